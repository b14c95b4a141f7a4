#!/usr/bin/env bats
# pack-run against a fake Flyte API (tests/peers/flyte_api.py, Python's
# http.server), health checked with curl, CloudEvents made and read with
# Google's protobuf runtime (tests/peers/cecodec.py).

load helpers

setup_file() {
	pyproto_setup
}

setup() {
	setup_tmp
	PR_PID=
	API_PID=
	CA=
	cat > pack.json <<-'END'
	{
	  "name": "Shell",
	  "labels": {"env": "test"},
	  "helpURL": "https://example.com/shell",
	  "events": [{"name": "Ping", "helpURL": "https://example.com/ping"}],
	  "commands": [
	    {"name": "Echo", "events": ["Echoed"],
	     "handler": "printf '{\"event\":\"Echoed\",\"payload\":%s}' \"$(cat)\""},
	    {"name": "Fail", "events": ["Never"],
	     "handler": "echo one >&2; echo two >&2; exit 3"},
	    {"name": "Slow", "events": ["Done"], "handler": "sleep 30",
	     "timeout": "300ms"},
	    {"name": "Bad", "events": ["Done"], "handler": "echo not json"},
	    {"name": "Undeclared", "events": ["Done"],
	     "handler": "echo '{\"event\":\"Other\",\"payload\":[1]}'"},
	    {"name": "Env", "events": ["Env"],
	     "handler": "printf '{\"event\":\"Env\",\"payload\":[\"%s\",\"%s\",\"%s\",\"%s\"]}' \"$FLYTE_PACK\" \"$FLYTE_COMMAND\" \"$FLYTE_ACTION_URL\" \"${FLYTE_JWT-unset}\""},
	    {"name": "Touch", "events": ["Touched"],
	     "handler": "touch started; sleep 1; echo '{\"event\":\"Touched\"}'"},
	    {"name": "Hang", "events": ["Done"],
	     "handler": "echo $$ > hang.pid; touch started; sleep 30"}
	  ],
	  "healthChecks": [{"name": "file", "command": "cat healthy"}]
	}
	END
}

teardown() {
	[ -n "$PR_PID" ] && kill -KILL "$PR_PID" 2> /dev/null
	[ -n "$API_PID" ] && kill -TERM "$API_PID" 2> /dev/null
	# a handler left behind by a pack-run that was killed
	[ -f hang.pid ] && kill -KILL -- "-$(cat hang.pid)" 2> /dev/null
	wait 2> /dev/null
	return 0
}

# Wait (30 s at most) until the shell condition holds.
wait_for() {
	local i
	for i in $(seq 300); do
		eval "$1" && return 0
		sleep 0.1
	done
	echo "gave up waiting for: $1" >&2
	[ -f pr.err ] && sed 's/^/pr.err: /' pr.err >&2
	return 1
}

start_api() {
	"$PYTHON3" "$PEERS/flyte_api.py" "$@" > api.out 2> api.err &
	API_PID=$!
	wait_for 'grep -q "^port " api.out'
	API=http://127.0.0.1:$(sed -n 's/^port //p' api.out)
}

# Start pack-run in the background: stderr in pr.err, stdout in pr.out.
start_pack() {
	pack-run -a "$API" -p pack.json --poll-interval 100ms --health-port 0 \
	    "$@" > pr.out 2> pr.err &
	PR_PID=$!
}

# Stop pack-run with SIGTERM; its exit status in $pr_status.
stop_pack() {
	kill -TERM "$PR_PID"
	pr_status=0
	wait "$PR_PID" || pr_status=$?
	PR_PID=
}

action() {	# action COMMAND [INPUT-JSON [COUNT]]
	curl -sf ${CA:+--cacert "$CA"} -X POST \
	    -d "{\"pack\":\"Shell\",\"command\":\"$1\",\"input\":${2:-null},\"count\":${3:-1}}" \
	    "$API/_test/actions" > /dev/null
}

fault() {
	curl -sf -X POST -d "$1" "$API/_test/faults" > /dev/null
}

# q EXPR: a Python expression over the fake's state s, printed.
q() {
	curl -sf ${CA:+--cacert "$CA"} "$API/_test/state" | "$PYTHON3" -c "
import json, sys
s = json.load(sys.stdin)
r = {x['command']: x for x in s['results']}
print($1)"
}

# check EXPR: the expression is true, or the test fails showing the state.
check() {
	if [ "$(q "bool($1)")" != True ]; then
		echo "not true: $1" >&2
		curl -sf "$API/_test/state" >&2
		echo >&2
		return 1
	fi
}

nresults() {
	q 'len(s["results"])'
}

@test "registers the pack, answers one action per command with the right result" {
	start_api
	action Echo '{"n":123456789012345678901234567890,"s":"\u00e9\n"}'
	for c in Fail Slow Bad Undeclared Env Nope; do action "$c" '"x"'; done
	FLYTE_JWT=sekrit start_pack --no-input
	wait_for '[ "$(nresults)" = 7 ]'
	stop_pack
	[ "$pr_status" -eq 0 ]
	# The registration body (flyte.md 1.2), exactly.
	check 's["packs"]["Shell.env.test"] == {"name": "Shell", "labels": {"env": "test"},
	    "events": [{"name": "Ping", "links": [{"href": "https://example.com/ping", "rel": "help"}]},
	        {"name": "Echoed"}, {"name": "Never"}, {"name": "Done"}, {"name": "Env"}, {"name": "Touched"}],
	    "commands": [{"name": n, "events": e} for n, e in [("Echo", ["Echoed"]), ("Fail", ["Never"]),
	        ("Slow", ["Done"]), ("Bad", ["Done"]), ("Undeclared", ["Done"]), ("Env", ["Env"]),
	        ("Touch", ["Touched"]), ("Hang", ["Done"])]],
	    "links": [{"href": "https://example.com/shell", "rel": "help"}]}'
	# The input reaches the handler byte for byte (no rounding of numbers).
	check 'r["Echo"]["event"] == "Echoed" and r["Echo"]["payload"] == {"n": 123456789012345678901234567890, "s": "\u00e9\n"}'
	check 'r["Fail"]["event"] == "FATAL" and r["Fail"]["payload"] == {"error": "handler exited with status 3", "exitStatus": 3, "stderr": "one\ntwo"}'
	check 'r["Slow"]["event"] == "FATAL" and r["Slow"]["payload"] == {"error": "handler timed out after 300ms", "timeout": 0.3, "stderr": ""}'
	check 'r["Bad"]["event"] == "FATAL" and r["Bad"]["payload"]["output"] == "not json\n" and r["Bad"]["payload"]["error"].startswith("handler output is not JSON")'
	check 'r["Undeclared"]["payload"] == {"error": "handler reported event \"Other\", which command \"Undeclared\" does not declare", "event": "Other", "payload": [1], "stderr": ""}'
	check 'r["Nope"]["payload"] == {"error": "no handler for command \"Nope\""}'
	# The environment: pack, command, result URL; never the token.
	check 'r["Env"]["payload"] == ["Shell", "Env", "%s/v1/packs/Shell.env.test/actions/%s/result" % ("'"$API"'", r["Env"]["action"]), "unset"]'
	check 'all(x["createdAt"].endswith("Z") for x in s["results"])'
	check 'all(a["state"] in ("SUCCESS", "FATAL") for a in s["actions"])'
	grep -q "action .*: Fail: handler exited with status 3 (stderr: two)" pr.err
}

@test "handlers run at once, up to --max-handlers" {
	cat > pack.json <<-'END'
	{"name": "Shell", "commands": [
	  {"name": "Meet", "events": ["Met"], "timeout": 60,
	   "handler": "touch here.$$; i=0; while [ $(ls here.* | wc -l) -lt 4 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; echo '{\"event\":\"Met\",\"payload\":'$(ls here.* | wc -l)'}'"},
	  {"name": "Count", "events": ["Counted"],
	   "handler": "mkdir run.$$; ls -d run.* | wc -l >> counts; sleep 0.3; rmdir run.$$; echo '{\"event\":\"Counted\"}'"}]}
	END
	start_api
	action Meet null 4
	start_pack --no-input --max-handlers 4
	wait_for '[ "$(nresults)" = 4 ]'
	# All four met: they ran at the same time.
	check 'all(x["payload"] == 4 for x in s["results"])'
	stop_pack
	start_pack --no-input --max-handlers 2
	action Count null 6
	wait_for '[ "$(nresults)" = 10 ]'
	stop_pack
	[ "$(sort -n counts | tail -1)" -le 2 ]
}

@test "a server that forgot the pack (404) gets it registered again" {
	start_api
	start_pack --no-input
	action Echo 1
	wait_for '[ "$(nresults)" = 1 ]'
	curl -sf -X POST "$API/_test/forget" > /dev/null
	action Echo 2
	wait_for '[ "$(nresults)" = 2 ]'
	stop_pack
	[ "$pr_status" -eq 0 ]
	check 's["registrations"] == 2 and [x["payload"] for x in s["results"]] == [1, 2]'
	grep -q "404: the server does not know the pack; registering it again" pr.err
}

@test "--exit-on-404 keeps the Go client's behaviour: exit" {
	start_api
	start_pack --no-input --exit-on-404
	wait_for '[ "$(q "s[\"registrations\"]")" = 1 ]'
	curl -sf -X POST "$API/_test/forget" > /dev/null
	pr_status=0
	wait "$PR_PID" || pr_status=$?
	PR_PID=
	[ "$pr_status" -eq 69 ]
	# exit-status: pack-run 69
	grep -q "pack-run: POST $API/v1/packs/Shell.env.test/actions/take: 404: the server does not know the pack" pr.err
}

@test "a result post that fails 3 times is retried and delivered once" {
	start_api
	fault '{"result_fail": [500, 3]}'
	action Echo '{"k":"v"}'
	EVPIPE_RETRY_INITIAL_MS=100 start_pack --no-input
	wait_for '[ "$(nresults)" = 1 ]'
	stop_pack
	[ "$pr_status" -eq 0 ]
	check 'r["Echo"]["payload"] == {"k": "v"}'
	check 'len([x for x in s["requests"] if x["path"].endswith("/result")]) == 4'
	# A dropped connection is retried too.
	fault '{"result_drop": 1}'
	action Echo 2
	EVPIPE_RETRY_INITIAL_MS=100 start_pack --no-input
	wait_for '[ "$(nresults)" = 2 ]'
	stop_pack
	check 'len([x for x in s["requests"] if x["path"].endswith("/result")]) == 6'
}

@test "with --spool an undelivered result survives a restart" {
	start_api
	fault '{"result_fail": [503, 1000000]}'
	action Echo '"spooled"'
	EVPIPE_RETRY_INITIAL_MS=100 start_pack --no-input --spool spool \
	    --drain-timeout 200ms
	wait_for '[ "$(ls spool | wc -l)" = 1 ]'
	wait_for '[ "$(q "len([x for x in s[\"requests\"] if x[\"path\"].endswith(\"/result\")])")" -ge 2 ]'
	stop_pack
	# Kept for the next run: that is not a loss.
	[ "$pr_status" -eq 0 ]
	grep -q "not delivered: .* (kept in the spool for the next run)" pr.err
	[ "$(nresults)" = 0 ]
	fault '{"result_fail": [503, 0]}'
	start_pack --no-input --spool spool
	wait_for '[ "$(nresults)" = 1 ]'
	wait_for '[ -z "$(ls spool)" ]'
	stop_pack
	check 'r["Echo"]["payload"] == "spooled"'
}

@test "an undelivered result without a spool is reported, and the exit status says so" {
	start_api
	fault '{"result_fail": [503, 1000000]}'
	action Echo 1
	EVPIPE_RETRY_INITIAL_MS=100 start_pack --no-input --drain-timeout 100ms
	wait_for '[ "$(q "len([x for x in s[\"requests\"] if x[\"path\"].endswith(\"/result\")])")" -ge 1 ]'
	stop_pack
	[ "$pr_status" -eq 69 ]
	# exit-status: pack-run 69
	grep -q "pack-run: result of action [0-9a-f]* not delivered: POST .*: HTTP 503" pr.err
}

@test "results refused for good (400) are not retried" {
	start_api
	fault '{"result_fail": [400, 1]}'
	action Echo 1
	start_pack --no-input
	wait_for 'grep -q "refused: POST .*: HTTP 400" pr.err'
	stop_pack
	check 'len([x for x in s["requests"] if x["path"].endswith("/result")]) == 1'
}

@test "spontaneous events from a CloudEvents pipe, and --tee" {
	start_api
	cat > in.jsonl <<-'END'
	{"id":"1","source":"/src","specVersion":"1.0","type":"Ping","attributes":{"datacontenttype":{"ceString":"application/json"},"evpipeack":{"ceString":"ack-1"},"time":{"ceTimestamp":"2024-01-02T03:04:05.678Z"}},"textData":"{\"n\":12345678901234567890}"}
	{"id":"2","source":"/src","specVersion":"1.0","type":"com.example.thing","textData":"plain words","attributes":{"datacontenttype":{"ceString":"text/plain"}}}
	{"id":"3","source":"/src","specVersion":"1.0","type":"other","binaryData":"AAEC"}
	END
	cecodec encode < in.jsonl > in.bin
	action Echo '"act"'
	pack-run -a "$API" -p pack.json --poll-interval 100ms --health-port 0 \
	    --tee --event-name com.example.thing=Thing < in.bin > tee.bin 2> pr.err &
	PR_PID=$!
	wait_for '[ "$(q "len(s[\"events\"])")" = 3 ] && [ "$(nresults)" = 1 ]'
	stop_pack
	[ "$pr_status" -eq 0 ]
	check '[(e["event"], e["payload"]) for e in s["events"]] == [("Ping", {"n": 12345678901234567890}), ("Thing", "plain words"), ("other", "AAEC")]'
	check 's["events"][0]["createdAt"] == "2024-01-02T03:04:05.678Z"'
	# One CloudEvent per post: the three events and the result.
	cecodec decode < tee.bin > tee.jsonl
	[ "$(wc -l < tee.jsonl)" -eq 4 ]
	"$PYTHON3" - "$API" <<-'END'
	import json, sys
	api = sys.argv[1]
	evs = [json.loads(l) for l in open("tee.jsonl")]
	ping = next(e for e in evs if e["type"] == "Ping")
	assert ping["source"] == api + "/v1/packs/Shell.env.test/events", ping
	assert ping["attributes"]["evpipeack"] == {"ceString": "ack-1"}, ping
	assert ping["attributes"]["flytepack"] == {"ceString": "Shell.env.test"}, ping
	assert ping["attributes"]["time"] == {"ceTimestamp": "2024-01-02T03:04:05.678Z"}, ping
	assert ping["textData"] == '{"n":12345678901234567890}', ping
	res = next(e for e in evs if e["type"] == "Echoed")
	assert res["attributes"]["flytecommand"] == {"ceString": "Echo"}, res
	assert res["source"].endswith("/actions/%s/result" % res["id"]), res
	assert res["textData"] == '"act"', res
	END
}

@test "spontaneous events from JSON lines; a bad line stops after the good ones" {
	start_api
	printf '%s\n' '{"event":"Ping","payload":{"a":[1,2]}}' '' \
	    '{"event":"Pong"}' '{"event":"Ping","payload":1,"extra":2}' \
	    '{"event":"Never"}' > in.jsonl
	run --separate-stderr pack-run -a "$API" -p pack.json --json-lines \
	    --health-port 0 < in.jsonl
	[ "$status" -eq 65 ]
	# exit-status: pack-run 65
	[ "$stderr" = 'pack-run: stdin: line 4: line has a member "extra" besides event and payload' ]
	check '[(e["event"], e["payload"]) for e in s["events"]] == [("Ping", {"a": [1, 2]}), ("Pong", None)]'
}

@test "a NUL byte in a JSON line or a handler's output is refused, never cut short" {
	start_api
	# "Ping\0x" would be posted as "Ping"
	printf '{"event":"Ping","payload":1}\n{"event":"Ping\0x","payload":2}\n{"event":"Ping","payload":3}\n' > in.jsonl
	run --separate-stderr pack-run -a "$API" -p pack.json --json-lines \
	    --health-port 0 < in.jsonl
	[ "$status" -eq 65 ]
	# exit-status: pack-run 65
	[ "$stderr" = 'pack-run: stdin: line 2: bad JSON at column 15: a NUL byte' ]
	check '[(e["event"], e["payload"]) for e in s["events"]] == [("Ping", 1)]'
	# a handler whose output holds a NUL: the action fails, says why
	"$PYTHON3" - <<-'END'
	import json
	p = json.load(open("pack.json"))
	p["commands"].append({"name": "Nul", "events": ["Echoed"],
	    "handler": "printf '{\"event\":\"Echoed\\000x\",\"payload\":1}'"})
	json.dump(p, open("pack.json", "w"))
	END
	action Nul
	start_pack
	wait_for '[ "$(nresults)" = 1 ]'
	stop_pack
	check 'r["Nul"]["event"] == "FATAL"'
	check 'r["Nul"]["payload"]["error"].startswith("handler output holds a NUL byte")'
}

@test "events go out one at a time, in order, even when one is retried" {
	start_api
	fault '{"event_fail": [503, 2]}'
	seq 1 20 | sed 's/.*/{"event":"Ping","payload":&}/' > in.jsonl
	EVPIPE_RETRY_INITIAL_MS=100 pack-run -a "$API" -p pack.json \
	    --json-lines --health-port 0 < in.jsonl > pr.out 2> pr.err &
	PR_PID=$!
	wait_for '[ "$(q "len(s[\"events\"])")" = 20 ]'
	stop_pack
	[ "$pr_status" -eq 0 ]
	check '[e["payload"] for e in s["events"]] == list(range(1, 21))'
	check 'len([x for x in s["requests"] if x["path"].endswith("/events")]) == 22'
}

@test "events wait for registration while the API is down at start" {
	start_api
	fault '{"v1_status": 503}'
	printf '{"event":"Ping","payload":1}\n' > in.jsonl
	EVPIPE_RETRY_INITIAL_MS=100 pack-run -v -a "$API" -p pack.json \
	    --json-lines --health-port 0 < in.jsonl > pr.out 2> pr.err &
	PR_PID=$!
	wait_for '[ "$(grep -c "GET $API/v1: HTTP 503.*; retrying in" pr.err)" -ge 2 ]'
	[ "$(q "len(s[\"events\"])")" = 0 ]
	curl -sf -X POST "$API/_test/reset" > /dev/null
	wait_for '[ "$(q "len(s[\"events\"])")" = 1 ]'
	stop_pack
	[ "$pr_status" -eq 0 ]
	check 's["events"][0]["payload"] == 1'
}

@test "an unreachable API at start is retried with backoff, once per attempt at -v" {
	start_api
	kill -TERM "$API_PID"
	wait "$API_PID" || true
	API_PID=
	EVPIPE_RETRY_INITIAL_MS=100 start_pack --no-input -v
	wait_for '[ "$(grep -c "GET $API/v1: .*; retrying in" pr.err)" -ge 3 ]'
	stop_pack
	[ "$pr_status" -eq 0 ]
	# Without -v: one warning, not one per attempt.
	start_api
	fault '{"v1_status": 503}'
	EVPIPE_RETRY_INITIAL_MS=100 start_pack --no-input
	wait_for '[ "$(q "len(s[\"requests\"])")" -ge 3 ]'
	stop_pack
	[ "$(wc -l < pr.err)" -eq 1 ]
	grep -Eq "^pack-run: GET $API/v1: HTTP 503: \{\}; retrying in [0-9]+ms$" pr.err
}

@test "a server that answers with a Location only" {
	start_api --location-only
	action Echo 7
	start_pack --no-input
	wait_for '[ "$(nresults)" = 1 ]'
	stop_pack
	check 'r["Echo"]["payload"] == 7'
	check '[x["path"] for x in s["requests"]][:3] == ["/v1", "/v1/packs", "/v1/packs/Shell.env.test"]'
}

@test "health: 200 when all checks pass, 500 when one fails or the API is down" {
	start_api
	echo '{"disk":"ok"}' > healthy
	pack-run -v -a "$API" -p pack.json --poll-interval 100ms --no-input \
	    --health-port auto --health-addr 127.0.0.1 > pr.out 2> pr.err &
	PR_PID=$!
	wait_for 'grep -q "health: listening on 127.0.0.1 port" pr.err'
	hp=$(sed -n 's/.*health: listening on 127.0.0.1 port //p' pr.err)
	wait_for '[ "$(q "s[\"registrations\"]")" = 1 ]'
	wait_for 'curl -s -o body -w "%{http_code}" "http://127.0.0.1:$hp/" | grep -qx 200'
	"$PYTHON3" - <<-'END'
	import json
	b = json.load(open("body"))
	assert list(b) == ["FlyteApi", "LastPoll", "file"], b
	assert all(v["healthy"] is True for v in b.values()), b
	assert b["file"]["status"] == {"disk": "ok"}, b
	assert b["FlyteApi"]["status"].startswith("GET http://127.0.0.1:"), b
	END
	# A pack check fails: 500, with the body (once the last answer,
	# reused for a second, is old).
	rm healthy
	wait_for '[ "$(curl -s -o body -w "%{http_code} %{content_type}" "http://127.0.0.1:$hp/any/path")" = "500 application/json; charset=utf-8" ]'
	"$PYTHON3" -c 'import json; b = json.load(open("body")); assert b["file"]["healthy"] is False and b["file"]["status"].startswith("exit status 1: cat: healthy"), b; assert b["FlyteApi"]["healthy"], b'
	echo ok > healthy
	# The API answers 503: FlyteApi fails (the Go client would say healthy).
	wait_for '[ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$hp/")" = 200 ]'
	fault '{"down": true}'
	wait_for '[ "$(curl -s -o body -w "%{http_code}" "http://127.0.0.1:$hp/")" = 500 ]'
	"$PYTHON3" -c 'import json; b = json.load(open("body")); assert not b["FlyteApi"]["healthy"] and "HTTP 503" in b["FlyteApi"]["status"], b; assert b["file"]["healthy"], b'
	# The API is gone: FlyteApi fails, and LastPoll once polls stop working.
	kill -TERM "$API_PID"
	wait "$API_PID" || true
	API_PID=
	wait_for 'curl -s -o body "http://127.0.0.1:$hp/"; grep -q onnect body'
	[ "$(curl -s -o body -w '%{http_code}' "http://127.0.0.1:$hp/")" = 500 ]
	"$PYTHON3" -c 'import json; b = json.load(open("body")); assert not b["FlyteApi"]["healthy"] and "onnect" in b["FlyteApi"]["status"], b'
	stop_pack
	[ "$pr_status" -eq 0 ]
}

@test "the bearer token is sent when FLYTE_JWT is set, and only then" {
	start_api
	action Env null
	FLYTE_JWT=tok.en.1 start_pack --no-input
	wait_for '[ "$(nresults)" = 1 ]'
	stop_pack
	check 'len(s["requests"]) >= 3 and all(x["authorization"] == "Bearer tok.en.1" for x in s["requests"])'
	check 'r["Env"]["payload"][3] == "unset"'
	curl -sf -X POST "$API/_test/reset" > /dev/null
	action Env null
	FLYTE_JWT= start_pack --no-input
	wait_for '[ "$(nresults)" = 1 ]'
	stop_pack
	check 'len(s["requests"]) >= 3 and all(x["authorization"] is None for x in s["requests"])'
	# From a file, against a server that wants it.
	kill -TERM "$API_PID"
	wait "$API_PID" || true
	start_api --jwt filetoken
	echo filetoken > tok
	action Echo 5
	start_pack --no-input --token-file tok
	wait_for '[ "$(nresults)" = 1 ]'
	stop_pack
	! grep -q filetoken pr.err
	# From a command, run again after a 401 (its token had expired).
	kill -TERM "$API_PID"
	wait "$API_PID" || true
	start_api --jwt tok2
	action Echo 6
	EVPIPE_RETRY_INITIAL_MS=100 start_pack --no-input -v \
	    --token-command 'n=$(cat n 2> /dev/null || echo 0); n=$((n + 1)); echo $n > n; echo tok$n'
	wait_for '[ "$(nresults)" = 1 ]'
	stop_pack
	[ "$(cat n)" = 2 ]
	grep -q "GET $API/v1: HTTP 401 (renewing the token)" pr.err
	! grep -q tok2 pr.err
}

@test "HTTPS with a private CA: --cacert" {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ca \
	    -keyout ca.key -out ca.pem 2> /dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
	    -keyout srv.key -out srv.csr 2> /dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > srv.ext
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	    -days 2 -extfile srv.ext -out srv.pem 2> /dev/null
	start_api --tls srv.pem srv.key
	API=${API/http:/https:}
	CA=ca.pem
	action Echo '"tls"'
	# Not trusted: the certificate is refused, and retried.
	EVPIPE_RETRY_INITIAL_MS=100 start_pack --no-input -v
	wait_for 'grep -q "GET $API/v1: .*certificate.*; retrying in" pr.err'
	stop_pack
	[ "$(q 's["registrations"]')" = 0 ]
	start_pack --no-input --cacert ca.pem
	wait_for '[ "$(nresults)" = 1 ]'
	stop_pack
	[ "$pr_status" -eq 0 ]
	check 'r["Echo"]["payload"] == "tls"'
}

@test "SIGTERM lets running handlers finish, posts their results, exits 0" {
	start_api
	action Touch
	start_pack --no-input --max-handlers 1
	wait_for '[ -f started ]'
	action Echo 1 # not taken: no room now, and no polling once draining
	stop_pack
	[ "$pr_status" -eq 0 ]
	check 'r["Touch"]["event"] == "Touched" and len(s["results"]) == 1'
	check '[a["state"] for a in s["actions"]] == ["SUCCESS", "NEW"]'
	# Past --drain-timeout the handler is stopped and its result is FATAL.
	rm started
	action Hang
	start_pack --no-input --drain-timeout 200ms
	wait_for '[ -f started ]'
	stop_pack
	[ "$pr_status" -eq 0 ]
	check 'r["Hang"]["payload"]["error"] == "handler stopped: pack-run is shutting down"'
	# A second SIGTERM ends it at once.
	rm started
	action Hang
	start_pack --no-input -v
	wait_for '[ -f started ]'
	kill -TERM "$PR_PID"
	wait_for 'grep -q "TERM: draining" pr.err'
	kill -TERM "$PR_PID"
	pr_status=0
	wait "$PR_PID" || pr_status=$?
	PR_PID=
	[ "$pr_status" -eq 143 ]
}

@test "a bad pack file is one error with the JSON path, exit 65" {
	echo '{"name":"A","commands":[{"name":"C","events":["E"],"handler":"h","timeout":-1}]}' > bad.json
	run --separate-stderr pack-run -a http://127.0.0.1:1 -p bad.json
	[ "$status" -eq 65 ]
	# exit-status: pack-run 65
	[ "$stderr" = 'pack-run: bad.json: $.commands[0].timeout: not a number of seconds or a duration above zero (e.g. 30, "1.5s", "2m")' ]
	printf '{"name":\n' > bad.json
	run --separate-stderr pack-run -a http://127.0.0.1:1 -p bad.json
	[ "$status" -eq 65 ]
	[ "$stderr" = 'pack-run: bad.json: line 2, column 1: bad JSON' ]
	run --separate-stderr pack-run -a http://127.0.0.1:1 -p missing.json
	[ "$status" -eq 74 ]
	# exit-status: pack-run 74
	[ "$stderr" = 'pack-run: missing.json: No such file or directory' ]
}

@test "bad options and settings exit 64 with the synopsis" {
	run --separate-stderr pack-run -p pack.json
	[ "$status" -eq 64 ]
	# exit-status: pack-run 64
	[ "${stderr%%$'\n'*}" = "pack-run: no Flyte API: give -a URL or set FLYTE_API" ]
	run --separate-stderr pack-run -a http://x -p pack.json --poll-interval 50ms
	[ "$status" -eq 64 ]
	[ "${stderr%%$'\n'*}" = "pack-run: --poll-interval 50ms: less than 100ms" ]
	FLYTE_API_TIMEOUT=1.5 run --separate-stderr pack-run -a http://x -p pack.json
	[ "$status" -eq 64 ]
	[ "${stderr%%$'\n'*}" = "pack-run: FLYTE_API_TIMEOUT=1.5: not a whole number of seconds" ]
	FLYTE_LABELS=novalue run --separate-stderr pack-run -a http://x -p pack.json
	[ "$status" -eq 64 ]
	[ "${stderr%%$'\n'*}" = 'pack-run: FLYTE_LABELS: "novalue" is not key=value' ]
	run --separate-stderr pack-run -a http://x -p pack.json --json-lines --event-name a=b
	[ "$status" -eq 64 ]
	run --separate-stderr pack-run -a http://x -p pack.json --token a --token-file b
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"pack-run: give the token only one way"* ]]
	run --separate-stderr pack-run -a http://x -p pack.json --token-file nonexistent
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"pack-run: token file nonexistent: No such file or directory"* ]]
}

@test "FLYTE_API and FLYTE_LABELS from the environment" {
	start_api
	action Echo 1
	FLYTE_API=$API FLYTE_LABELS='dc = lon, env=prod' pack-run -p pack.json \
	    --no-input --health-port 0 2> pr.err &
	PR_PID=$!
	wait_for '[ "$(q "list(s[\"packs\"]) == [\"Shell.dc.lon.env.prod\"]")" = True ]'
	stop_pack
	check 's["packs"]["Shell.dc.lon.env.prod"]["labels"] == {"dc": "lon", "env": "prod"}'
}

@test "--tee to /dev/full exits 74 after draining" {
	start_api
	action Echo 1
	pack-run -a "$API" -p pack.json --no-input --health-port 0 --tee \
	    > /dev/full 2> pr.err &
	PR_PID=$!
	pr_status=0
	wait "$PR_PID" || pr_status=$?
	PR_PID=
	[ "$pr_status" -eq 74 ]
	# exit-status: pack-run 74
	[ "$(cat pr.err)" = "pack-run: stdout: No space left on device" ]
	[ "$(nresults)" = 1 ]
}

# Start pack-run with its health server on a free loopback port: $hp.
# $PR_PREFIX: a command to run it with (e.g. prlimit).
start_health_pack() {
	${PR_PREFIX:-} pack-run -v -a "$API" -p pack.json --poll-interval 100ms --no-input \
	    --health-port auto --health-addr 127.0.0.1 "$@" > pr.out 2> pr.err &
	PR_PID=$!
	wait_for 'grep -q "health: listening on 127.0.0.1 port" pr.err'
	hp=$(sed -n 's/.*health: listening on 127.0.0.1 port //p' pr.err)
}

@test "health: a burst of idle and half-sent connections neither wedges the port nor piles up" {
	start_api
	echo ok > healthy
	# 1024 descriptors: 512 connections at once, room for the whole burst.
	PR_PREFIX="prlimit --nofile=1024:1024" start_health_pack
	wait_for '[ "$(q "s[\"registrations\"]")" = 1 ]'
	# 300 connections that say nothing and 100 with half a request, held
	# until the server closes them (30 s at most); a GET every half
	# second meanwhile, each given 2 s.
	"$PYTHON3" "$PEERS/conn_flood.py" http-hold "$hp" 300 100 --hold 30 \
	    > flood.json
	cat flood.json
	"$PYTHON3" - <<-'END'
	import json
	r = json.load(open("flood.json"))
	assert r["held"] == 400, r
	assert r["gets"] >= 10 and r["answered"] == r["gets"], r
	assert r["statuses"] == {"200": r["gets"]}, r
	# The documented idle timeout: 10 s, not before, and not much after.
	assert r["closed"] == 400, r
	assert r["first_close"] >= 9.5 and r["last_close"] < 20, r
	END
	# Nothing of the burst is left half-closed.
	wait_for '[ "$(ss -Htn state close-wait "( sport = :$hp )" | wc -l)" = 0 ]'
	[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hp/")" = 200 ]
	# A second burst, torn down at once (resets and closes): still served.
	"$PYTHON3" "$PEERS/conn_flood.py" http "$hp" 200
	[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hp/")" = 200 ]
	wait_for '[ "$(ss -Htn state close-wait "( sport = :$hp )" | wc -l)" = 0 ]'
	stop_pack
	[ "$pr_status" -eq 0 ]
}

@test "health: with few descriptors, a burst costs the oldest idle connections, not a health check" {
	start_api
	echo ok > healthy
	# 128 descriptors: 64 connections at once, far fewer than the burst.
	PR_PREFIX="prlimit --nofile=128:128" start_health_pack
	wait_for '[ "$(q "s[\"registrations\"]")" = 1 ]'
	"$PYTHON3" "$PEERS/conn_flood.py" http-hold "$hp" 300 100 --hold 30 \
	    > flood.json
	cat flood.json
	"$PYTHON3" - <<-'END'
	import json
	r = json.load(open("flood.json"))
	assert r["held"] == 400 and r["closed"] == 400, r
	assert r["gets"] >= 5 and r["answered"] == r["gets"], r
	assert r["statuses"] == {"200": r["gets"]}, r
	END
	grep -q "pack-run: health server: 64 connections, the most it serves: closing the oldest idle ones" pr.err
	wait_for '[ "$(ss -Htn state close-wait "( sport = :$hp )" | wc -l)" = 0 ]'
	[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hp/")" = 200 ]
	stop_pack
	[ "$pr_status" -eq 0 ]
}

@test "health: GET /metrics is the Prometheus text format" {
	start_api
	echo ok > healthy
	action Echo 1
	action Nonesuch 2
	start_health_pack
	wait_for '[ "$(nresults)" = 2 ]'
	curl -sf -D headers -o metrics "http://127.0.0.1:$hp/metrics"
	grep -qi '^content-type: text/plain; version=0.0.4; charset=utf-8' headers
	"$PYTHON3" - <<-'END'
	from prometheus_client.parser import text_string_to_metric_families
	fams = {f.name: f for f in text_string_to_metric_families(open("metrics").read())}
	def value(name, **labels):
	    for f in fams.values():
	        for s in f.samples:
	            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
	                return s.value
	    raise AssertionError((name, labels))
	assert fams["evpipe_progress"].type == "counter", fams["evpipe_progress"]
	assert value("evpipe_progress_total", tool="pack-run", what="actions handled") == 2
	assert value("evpipe_actions_fatal_total", tool="pack-run") == 1
	assert value("evpipe_handlers_running", tool="pack-run") == 0
	assert value("evpipe_health_connections", tool="pack-run") >= 1
	assert value("evpipe_start_time_seconds", tool="pack-run") > 1.6e9
	END
	stop_pack
	[ "$pr_status" -eq 0 ]
}

@test "pack-run.1 under groff keeps the JSON's double quotes" {
	# man-db renders with groff: every example that is one JSON value
	# on a line must still parse, and the inline ones keep their quotes.
	LC_ALL=C.UTF-8 groff -man -Tutf8 -rLL=200n "$EVPIPE_SRCDIR/man/pack-run.1" |
	    col -b > page.txt
	"$PYTHON3" - <<-'END'
	import json
	text = open("page.txt").read()
	objs = [l.strip() for l in text.splitlines()
	        if l.strip().startswith("{") and l.strip().endswith("}")]
	assert len(objs) >= 2, objs
	for o in objs:
	    json.loads(o)
	assert {"event": "Greeted", "payload": {"greeting": "hello"}} in map(json.loads, objs)
	for s in ['{"healthy": BOOL, "status": ANY}', '{"event": NAME, "payload": ANY}',
	          '{"type_url": ..., "value": BASE64}']:
	    assert s in " ".join(text.split()), s
	END
}

@test "--exit-at-eof: pack-run ends with its input, once every event is posted" {
	start_api
	printf '%s\n' '{"id":"1","source":"/s","specVersion":"1.0","type":"Ping","textData":"one"}' \
	    '{"id":"2","source":"/s","specVersion":"1.0","type":"Ping","textData":"two"}' |
	    cecodec encode > in.bin
	run --separate-stderr pack-run -a "$API" -p pack.json --health-port 0 \
	    --poll-interval 100ms --exit-at-eof < in.bin
	# exit-status: pack-run 0
	[ "$status" -eq 0 ]
	check '[e["payload"] for e in s["events"]] == ["one", "two"]'
	# JSON lines; and an API down at first: the events wait for it.
	printf '{"event":"Ping","payload":3}\n' > in.jsonl
	fault '{"down": true}'
	(sleep 1; fault '{"down": false}') &
	up=$!
	EVPIPE_RETRY_INITIAL_MS=100 run --separate-stderr pack-run -a "$API" \
	    -p pack.json --health-port 0 --json-lines --exit-at-eof < in.jsonl
	wait "$up"
	[ "$status" -eq 0 ]
	check '[e["payload"] for e in s["events"]] == ["one", "two", 3]'
	# Without it, the end of input does not stop pack-run.
	start_pack < /dev/null
	wait_for 'grep -q "end of input" pr.err || [ "$(q "s[\"registrations\"]")" -ge 1 ]'
	sleep 0.5
	kill -0 "$PR_PID"
	stop_pack
	[ "$pr_status" -eq 0 ]
	run --separate-stderr pack-run -a "$API" -p pack.json --no-input --exit-at-eof
	[ "$status" -eq 64 ]
}

@test "exit statuses 69 and 70: a health port in use, out of memory" {
	start_api
	# 69: the health port given cannot be listened on.
	"$PYTHON3" -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); sys.stdin.read()' > busy.port < <(sleep 60) &
	busy=$!
	wait_for '[ -s busy.port ]'
	run --separate-stderr pack-run -a "$API" -p pack.json --no-input \
	    --health-addr 127.0.0.1 --health-port "$(cat busy.port)"
	kill "$busy"
	# exit-status: pack-run 69
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"pack-run: health server: 127.0.0.1 port $(cat busy.port): Address already in use"* ]]
	# 70: a record on stdin that says it is 512 MiB long, with room for
	# less (the address-space limit, or the sanitizers' allocator's).
	printf '\200\200\200\200\002abc' > huge.bin
	if [ -n "$EVPIPE_SANITIZERS" ]; then
		run --separate-stderr env ASAN_OPTIONS="${ASAN_OPTIONS:-}:allocator_may_return_null=1:max_allocation_size_mb=64" \
		    pack-run -a "$API" -p pack.json --health-port 0 --max-record 1G < huge.bin
	else
		run --separate-stderr prlimit --as=300000000 \
		    pack-run -a "$API" -p pack.json --health-port 0 --max-record 1G < huge.bin
	fi
	# exit-status: pack-run 70
	[ "$status" -eq 70 ]
	[ "$(printf '%s\n' "$stderr" | grep -v '^==[0-9]*==WARNING: AddressSanitizer failed to allocate')" = "pack-run: out of memory" ]
}

@test "an ack-only marker is not posted; --tee passes it on after the events before it" {
	start_api
	printf '%s\n' \
	    '{"specversion":"1.0","id":"1","source":"/s","type":"Ping","data":"one","evpipeack":"a1"}' \
	    '{"specversion":"1.0","id":"2","source":"/s","type":"dev.evpipe.ack","evpipeack":"m2"}' \
	    '{"specversion":"1.0","id":"3","source":"/s","type":"Ping","data":"three","evpipeack":"a3"}' \
	    '{"specversion":"1.0","id":"4","source":"/s","type":"dev.evpipe.ack","evpipeack":"m4"}' |
	    evcat -e > in.bin
	# the first event is refused twice: its marker must wait for it
	fault '{"event_fail": [503, 2]}'
	EVPIPE_RETRY_INITIAL_MS=100 pack-run -a "$API" -p pack.json \
	    --health-port 0 --poll-interval 100ms --tee --exit-at-eof -v \
	    < in.bin > tee.bin 2> pr.err
	cat pr.err
	check '[e["payload"] for e in s["events"]] == ["one", "three"]'
	grep -q "2 events posted, 2 ack-only markers" pr.err
	[ "$(evcat -f '%type %{evpipeack}\n' tee.bin)" = "$(printf 'Ping a1\ndev.evpipe.ack m2\nPing a3\ndev.evpipe.ack m4')" ]
	# the markers are passed on as they came, byte for byte
	evcat -e <(evcat in.bin | sed -n '2p;4p') > want.bin
	evcat -e <(evcat tee.bin | sed -n '2p;4p') | cmp - want.bin
	# without --tee they are only counted
	run --separate-stderr pack-run -a "$API" -p pack.json --health-port 0 \
	    --poll-interval 100ms --exit-at-eof -v < in.bin
	[ "$status" -eq 0 ]
	check '[e["payload"] for e in s["events"]] == ["one", "three", "one", "three"]'
}

@test "an action that is not strict JSON is refused with one line, not run with a part of it as input" {
	start_api
	# what fuzz_flyte found: cJSON reads a control character as
	# whitespace and stops at the end of a value, and the input's text
	# was then cut out of the document wrongly
	fault "{\"take_raw_b64\": \"$(tail -c +2 "$EVPIPE_SRCDIR/tests/fuzz/regress/flyte/input-after-control-char" | base64 -w0)\"}"
	start_pack --no-input
	wait_for 'grep -q "an action that is not JSON" pr.err'
	# the next action is run as usual
	action Echo '{"n":1}'
	wait_for '[ "$(nresults)" = 1 ]'
	stop_pack
	[ "$pr_status" -eq 0 ]
	check 'r["Echo"]["payload"] == {"n": 1}'
	# quoted on one line, control characters and non-ASCII as ?
	[ "$(grep -c "not JSON" pr.err)" -eq 1 ]
	grep -q '"input":?{"n": 1234.*"href": "h????' pr.err
}
