#!/usr/bin/env bats
# The gRPC transport against grpcio (gRPC C core, from Debian's
# python3-grpcio): our client -> grpcio server, grpcio client -> our
# server, in cleartext and TLS.  tests/grpc/echo drives our side.

load helpers

ECHO=$EVPIPE_BUILDDIR/tests/grpc/echo

setup_file() {
	export PYOUT=$BATS_FILE_TMPDIR/pyout
	"$PEERS/gen" "$PYOUT"
	make_certs "$BATS_FILE_TMPDIR/pki"
}

setup() {
	setup_tmp
}

teardown() {
	stop_servers
}

# start_server NAME COMMAND...: run a server that prints "port N", wait
# for that line, and set $PORT.
start_server() {
	local name=$1 i
	shift
	# truncated here, not by the background shell: a stale "port" line
	# from an earlier server of that name must not be read
	: > "$name.out"
	"$@" > "$name.out" 2> "$name.err" &
	echo $! >> servers.pid
	for i in $(seq 600); do # 30 s
		PORT=$(sed -n 's/^port //p' "$name.out")
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	cat "$name.err" >&2
	return 1
}

py_server() { start_server py "$PYTHON3" "$PEERS/echo_server.py" --pyout "$PYOUT" "$@"; }
c_server() { start_server c "$ECHO" server "$@"; }
py_client() { "$PYTHON3" "$PEERS/echo_client.py" --pyout "$PYOUT" "$@"; }

stop_servers() {
	[ -f "$BATS_TEST_TMPDIR/servers.pid" ] || return 0
	while read -r pid; do
		kill -CONT "$pid" 2>/dev/null
		kill "$pid" 2>/dev/null
	done < "$BATS_TEST_TMPDIR/servers.pid"
	wait 2>/dev/null || true
	rm -f "$BATS_TEST_TMPDIR/servers.pid"
}

# jsub JSON WANT: every member of WANT is in JSON with the same value.
jsub() {
	"$PYTHON3" - "$1" "$2" <<-'END'
	import json, sys
	got, want = json.loads(sys.argv[1]), json.loads(sys.argv[2])
	def sub(g, w):
	    if isinstance(w, dict):
	        return isinstance(g, dict) and all(k in g and sub(g[k], v) for k, v in w.items())
	    return g == w
	if not sub(got, want):
	    print("got:  " + json.dumps(got, ensure_ascii=False))
	    print("want: " + json.dumps(want, ensure_ascii=False))
	    sys.exit(1)
	END
}

last() { printf '%s\n' "$output" | tail -n 1; }

@test "unary to grpcio, with ASCII and binary metadata" {
	py_server
	run "$ECHO" client "grpc://127.0.0.1:$PORT" unary --text hello \
	    --md x-token=abc --md x-blob-bin=00ff10
	[ "$status" -eq 0 ]
	jsub "${lines[0]}" '{"reply":{"text":"hello","index":0}}'
	jsub "$(last)" '{"status":"OK","code":0,"trailers":{"x-token":"abc","x-blob-bin":"00ff10"}}'
}

@test "our request headers as grpcio sees them" {
	py_server --log calls.log
	run "$ECHO" client "grpc://127.0.0.1:$PORT" unary --timeout 30
	[ "$status" -eq 0 ]
	grep -q '"user-agent": "evpipe/[0-9.]* grpc-python' calls.log ||
	    grep -q 'evpipe/' calls.log
}

@test "server streaming, client streaming and bidi with grpcio" {
	py_server
	run "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --text s \
	    --count 3 --size 10
	[ "$status" -eq 0 ] && [ "${#lines[@]}" -eq 4 ]
	jsub "${lines[2]}" '{"reply":{"text":"s","payload_len":10,"index":2}}'
	jsub "$(last)" '{"status":"OK"}'
	run "$ECHO" client "grpc://127.0.0.1:$PORT" client-stream --requests 3
	[ "$status" -eq 0 ]
	jsub "${lines[0]}" '{"reply":{"text":"m0,m1,m2","count":3}}'
	jsub "$(last)" '{"status":"OK"}'
	run "$ECHO" client "grpc://127.0.0.1:$PORT" bidi --requests 3
	[ "$status" -eq 0 ] && [ "${#lines[@]}" -eq 4 ]
	jsub "${lines[1]}" '{"reply":{"text":"m1","index":1}}'
	jsub "$(last)" '{"status":"OK"}'
}

@test "an error status with a non-ASCII message survives exactly" {
	py_server
	msg=$'\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n'
	run "$ECHO" client "grpc://127.0.0.1:$PORT" unary --status 2 \
	    --status-message "$msg"
	[ "$status" -eq 0 ]
	want=$("$PYTHON3" -c 'import json,sys; print(json.dumps({"status":"UNKNOWN","code":2,"details":sys.argv[1]}))' "$msg")
	jsub "$(last)" "$want"
	run "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --count 2 \
	    --status 9 --status-message "not now"
	jsub "$(last)" '{"status":"FAILED_PRECONDITION","code":9,"details":"not now"}'
	[ "${#lines[@]}" -eq 3 ]
}

@test "client deadline: DEADLINE_EXCEEDED, and grpcio saw grpc-timeout" {
	py_server --log calls.log
	run "$ECHO" client "grpc://127.0.0.1:$PORT" unary --sleep-ms 3000 \
	    --timeout 0.5
	[ "$status" -eq 0 ]
	jsub "$(last)" '{"status":"DEADLINE_EXCEEDED","code":4}'
}

@test "messages over 4 MiB are RESOURCE_EXHAUSTED both ways" {
	py_server
	run "$ECHO" client "grpc://127.0.0.1:$PORT" unary --payload 4194305
	jsub "$(last)" '{"status":"RESOURCE_EXHAUSTED","code":8}'
	run "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --count 1 \
	    --size 4194305
	jsub "$(last)" '{"status":"RESOURCE_EXHAUSTED","code":8}'
	run "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --count 1 \
	    --size 4194305 --max-recv 5000000
	jsub "$(last)" '{"status":"OK"}'
}

@test "10000 messages on one stream, 100 concurrent calls on one connection" {
	py_server
	run "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --count 10000 \
	    --size 20 --quiet-replies
	jsub "${lines[0]}" '{"replies":10000,"bytes":'$((10000 * 24))'}' ||
	    jsub "${lines[0]}" '{"replies":10000}'
	jsub "$(last)" '{"status":"OK"}'
	run "$ECHO" client "grpc://127.0.0.1:$PORT" bidi --requests 10000 \
	    --quiet-replies
	jsub "${lines[0]}" '{"replies":10000}'
	run "$ECHO" client "grpc://127.0.0.1:$PORT" unary --concurrent 100
	jsub "$(last)" '{"concurrent":100,"ok":100}'
}

@test "grpcio client to our server: the four kinds, metadata, errors" {
	c_server
	run py_client "127.0.0.1:$PORT" unary --text hi --md x-a=b
	[ "$status" -eq 0 ]
	jsub "${lines[0]}" '{"reply":{"text":"hi"}}'
	jsub "$(last)" '{"status":"OK","trailers":{"x-a":"b"}}'
	run py_client "127.0.0.1:$PORT" server-stream --count 5 --size 7
	[ "${#lines[@]}" -eq 6 ]
	jsub "${lines[4]}" '{"reply":{"index":4,"payload_len":7}}'
	jsub "$(last)" '{"status":"OK"}'
	run py_client "127.0.0.1:$PORT" client-stream --requests 4
	jsub "${lines[0]}" '{"reply":{"text":"m0,m1,m2,m3","count":4}}'
	run py_client "127.0.0.1:$PORT" bidi --requests 4
	[ "${#lines[@]}" -eq 5 ]
	jsub "$(last)" '{"status":"OK"}'
	run py_client "127.0.0.1:$PORT" unary --status 5 --status-message "nöt found ☺"
	jsub "$(last)" '{"status":"NOT_FOUND","code":5,"details":"nöt found ☺"}'
}

@test "grpcio client to our server: deadline, size limit, concurrency" {
	c_server
	run py_client "127.0.0.1:$PORT" unary --sleep-ms 3000 --timeout 0.5
	jsub "$(last)" '{"status":"DEADLINE_EXCEEDED"}'
	run py_client "127.0.0.1:$PORT" unary --text big --size 0 \
	    --payload-size 4194305
	jsub "$(last)" '{"status":"RESOURCE_EXHAUSTED"}'
	run py_client "127.0.0.1:$PORT" unary --concurrent 100
	jsub "$(printf '%s\n' "$output" | grep '"concurrent"')" \
	    '{"concurrent":100,"ok":100}'
}

@test "health Check and Watch answered to grpcio" {
	c_server
	run py_client "127.0.0.1:$PORT" health-check
	jsub "${lines[0]}" '{"health":"SERVING"}'
	run py_client "127.0.0.1:$PORT" health-check --service nosuch
	jsub "$(last)" '{"status":"NOT_FOUND"}'
	run py_client "127.0.0.1:$PORT" health-watch --timeout 1
	jsub "${lines[0]}" '{"health":"SERVING"}'
	jsub "$(last)" '{"status":"DEADLINE_EXCEEDED"}'
}

@test "TLS to grpcio: good CA; wrong CA, wrong name, no client cert fail" {
	py_server --tls "$(PKI server.pem)" "$(PKI server.key)"
	run "$ECHO" client "grpcs://127.0.0.1:$PORT" unary --cacert "$(PKI ca.pem)"
	jsub "$(last)" '{"status":"OK"}'
	run "$ECHO" client "grpcs://localhost:$PORT" unary --cacert "$(PKI ca.pem)"
	jsub "$(last)" '{"status":"OK"}'
	run "$ECHO" client "grpcs://127.0.0.1:$PORT" unary --cacert "$(PKI otherca.pem)"
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
	[[ "$(last)" == *"certificate"* ]]
	stop_servers
	py_server --tls "$(PKI elsewhere.pem)" "$(PKI elsewhere.key)"
	run "$ECHO" client "grpcs://localhost:$PORT" unary --cacert "$(PKI ca.pem)"
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
	[[ "$(last)" == *"hostname mismatch"* ]]
	stop_servers
	py_server --tls "$(PKI server.pem)" "$(PKI server.key)" --client-ca "$(PKI ca.pem)"
	run "$ECHO" client "grpcs://127.0.0.1:$PORT" unary --cacert "$(PKI ca.pem)"
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
	run "$ECHO" client "grpcs://127.0.0.1:$PORT" unary --cacert "$(PKI ca.pem)" \
	    --cert "$(PKI client.pem)" --key "$(PKI client.key)"
	jsub "$(last)" '{"status":"OK"}'
}

@test "TLS from grpcio to our server, with and without client certs" {
	c_server -l grpcs://127.0.0.1:0 --cert "$(PKI server.pem)" --key "$(PKI server.key)"
	run py_client "127.0.0.1:$PORT" unary --tls "$(PKI ca.pem)" --text t
	jsub "$(last)" '{"status":"OK"}'
	stop_servers
	c_server -l grpcs://127.0.0.1:0 --cert "$(PKI server.pem)" --key "$(PKI server.key)" \
	    --client-ca "$(PKI ca.pem)"
	run py_client "127.0.0.1:$PORT" unary --tls "$(PKI ca.pem)"
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
	run py_client "127.0.0.1:$PORT" unary --tls "$(PKI ca.pem)" \
	    --cert "$(PKI client.pem)" --key "$(PKI client.key)"
	jsub "$(last)" '{"status":"OK"}'
}

@test "server killed mid-stream: UNAVAILABLE; a new call connects again" {
	py_server
	"$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --count 100000 \
	    --size 1000 --slow-ms 1 > out.jsonl &
	client=$!
	sleep 1
	kill -9 "$(head -1 servers.pid)"
	wait "$client"
	jsub "$(tail -1 out.jsonl)" '{"status":"UNAVAILABLE","code":14}'
	rm servers.pid
	py_server
	run "$ECHO" client "grpc://127.0.0.1:$PORT" unary
	jsub "$(last)" '{"status":"OK"}'
}

@test "nothing listening: UNAVAILABLE; bad URLs are usage errors" {
	run "$ECHO" client grpc://127.0.0.1:1 unary
	jsub "$(last)" '{"status":"UNAVAILABLE","code":14}'
	run "$ECHO" client http://x unary
	[ "$status" -eq 64 ]
	[[ "$output" == *"not a grpc://, grpcs:// or unix: address"* ]]
	run "$ECHO" client grpc://x:99999 unary
	[ "$status" -eq 64 ]
	[[ "$output" == *"port must be a number from 1 to 65535"* ]]
}

@test "a slow consumer bounds memory: 1 GB stream, RSS under 32 MiB" {
	c_server
	run "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --count 10000 \
	    --size 100000 --slow-ms 0 --quiet-replies
	jsub "${lines[0]}" '{"replies":10000}'
	rss=$("$PYTHON3" -c 'import json,sys; print(json.loads(sys.argv[1])["rss_kb"])' "${lines[0]}")
	echo "peak RSS ${rss} KiB"
	# ASan's shadow memory and quarantine add their own; the bound is
	# for the real build.
	if [ -n "${EVPIPE_SANITIZERS:-}" ]; then
		[ "$rss" -lt 131072 ]
	else
		[ "$rss" -lt 32768 ]
	fi
}

@test "through an HTTP CONNECT proxy" {
	py_server
	target=$PORT
	start_server proxy "$PYTHON3" "$PEERS/connect_proxy.py"
	run "$ECHO" client "grpc://127.0.0.1:$target" unary \
	    --proxy "http://127.0.0.1:$PORT"
	jsub "$(last)" '{"status":"OK"}'
	grep -q "127.0.0.1:$target" proxy.err
}

reflect() { "$PYTHON3" "$PEERS/reflect_client.py" --pyout "$PYOUT" "127.0.0.1:$PORT" "$@"; }

@test "reflection: services, files, symbols and errors, v1 and v1alpha" {
	c_server
	run reflect list file:health.proto symbol:evpipe.test.Echo \
	    symbol:evpipe.test.Echo.Bidi symbol:evpipe.test.EchoRequest.payload \
	    symbol:grpc.health.v1.HealthCheckResponse.ServingStatus \
	    symbol:grpc.health.v1.HealthCheckResponse.SERVING \
	    symbol:google.rpc.Status symbol:nosuch.Thing file:nosuch.proto \
	    ext:google.rpc.Status:7 extnums:google.rpc.Status extnums:nosuch.T none
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 15 ]
	jsub "${lines[0]}" '{"services":["evpipe.test.Echo","grpc.health.v1.Health","grpc.reflection.v1.ServerReflection","grpc.reflection.v1alpha.ServerReflection"],"echo":"list"}'
	jsub "${lines[1]}" '{"files":["health.proto"],"echo":"file:health.proto"}'
	jsub "${lines[2]}" '{"files":["echo.proto"]}'
	jsub "${lines[3]}" '{"files":["echo.proto"]}'
	jsub "${lines[4]}" '{"files":["echo.proto"]}'
	jsub "${lines[5]}" '{"files":["health.proto"]}'
	jsub "${lines[6]}" '{"files":["health.proto"]}'
	# a file comes with what it imports
	jsub "${lines[7]}" '{"files":["google/rpc/status.proto","google/protobuf/any.proto"]}'
	jsub "${lines[8]}" '{"error":{"code":5},"echo":"symbol:nosuch.Thing"}'
	jsub "${lines[9]}" '{"error":{"code":5}}'
	jsub "${lines[10]}" '{"error":{"code":5},"echo":"ext:google.rpc.Status:7"}'
	jsub "${lines[11]}" '{"extension_numbers":{"type":"google.rpc.Status","numbers":[]}}'
	jsub "${lines[12]}" '{"error":{"code":5}}'
	jsub "${lines[13]}" '{"error":{"code":12},"echo":"none"}'
	jsub "$(last)" '{"status":"OK"}'
	run reflect --v1alpha --host myhost list symbol:grpc.reflection.v1alpha.ServerReflection
	jsub "${lines[0]}" '{"services":["evpipe.test.Echo","grpc.health.v1.Health","grpc.reflection.v1.ServerReflection","grpc.reflection.v1alpha.ServerReflection"],"host":"myhost"}'
	jsub "${lines[1]}" '{"files":["grpc/reflection/v1alpha/reflection.proto"]}'
	jsub "$(last)" '{"status":"OK"}'
}

@test "reflection: a client that knows no .proto calls every kind" {
	c_server
	run reflect call /evpipe.test.Echo/Unary '{"text":"hi","payload":"AAEC"}'
	jsub "${lines[0]}" '{"method":{"input":"evpipe.test.EchoRequest","output":"evpipe.test.EchoReply","client_streaming":false,"server_streaming":false}}'
	jsub "${lines[1]}" '{"reply":{"text":"hi","payload":"AAEC"}}'
	jsub "$(last)" '{"status":"OK"}'
	run reflect call /evpipe.test.Echo/ServerStream '{"text":"s","count":3}'
	jsub "${lines[0]}" '{"method":{"client_streaming":false,"server_streaming":true}}'
	[ "${#lines[@]}" -eq 5 ]
	jsub "${lines[3]}" '{"reply":{"text":"s","index":2}}'
	run reflect call /evpipe.test.Echo/Bidi '[{"text":"a"},{"text":"b"}]'
	jsub "${lines[0]}" '{"method":{"client_streaming":true,"server_streaming":true}}'
	jsub "${lines[2]}" '{"reply":{"text":"b","index":1}}'
	run reflect call /grpc.health.v1.Health/Check '{}'
	jsub "${lines[1]}" '{"reply":{"status":"SERVING"}}'
	# reflection describes itself: a bidi stream
	run reflect call /grpc.reflection.v1.ServerReflection/ServerReflectionInfo \
	    '[{"fileByFilename":"health.proto"},{"listServices":""}]'
	jsub "${lines[0]}" '{"method":{"client_streaming":true,"server_streaming":true}}'
	jsub "${lines[2]}" '{"reply":{"originalRequest":{"listServices":""},"listServicesResponse":{"service":[{"name":"evpipe.test.Echo"},{"name":"grpc.health.v1.Health"},{"name":"grpc.reflection.v1.ServerReflection"},{"name":"grpc.reflection.v1alpha.ServerReflection"}]}}}'
	jsub "$(last)" '{"status":"OK"}'
}

@test "reflection: 2000 requests on one stream, answered in order" {
	c_server
	args=()
	for i in $(seq 1000); do args+=(symbol:google.rpc.Status "file:f$i.proto"); done
	run reflect "${args[@]}"
	[ "${#lines[@]}" -eq 2001 ]
	jsub "${lines[1998]}" '{"files":["google/rpc/status.proto","google/protobuf/any.proto"]}'
	jsub "${lines[1999]}" '{"error":{"code":5},"echo":"file:f1000.proto"}'
	jsub "$(last)" '{"status":"OK"}'
}

# wait_until SECONDS COMMAND...: poll until COMMAND succeeds.
wait_until() {
	local limit=$(($1 * 10)) i
	shift
	for ((i = 0; i < limit; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	echo "wait_until: timed out: $*" >&2
	return 1
}

# A raw HTTP/2 peer playing one scenario (tests/peers/h2peer.py).
h2_server() { start_server h2 "$PYTHON3" "$PEERS/h2peer.py" server "$1"; }

@test "GOAWAY from the server: graceful finishes, refused and error are UNAVAILABLE" {
	h2_server goaway-graceful
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream -v
	[ "$status" -eq 0 ]
	jsub "${lines[-2]}" '{"reply":{"text":"x","index":1}}'
	jsub "$(last)" '{"status":"OK","code":0}'
	[[ "$stderr" == *"GOAWAY from peer: NO_ERROR"* ]]
	stop_servers
	h2_server goaway-refuse
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream
	jsub "$(last)" '{"status":"UNAVAILABLE","code":14}'
	[[ "$(last)" == *"refused"* ]]
	stop_servers
	h2_server goaway-error
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream
	jsub "${lines[0]}" '{"reply":{"text":"x","index":0}}'
	jsub "$(last)" '{"status":"UNAVAILABLE","code":14}'
	[[ "$(last)" == *"after GOAWAY INTERNAL_ERROR boom"* ]]
}

@test "graceful shutdown while a call runs, both ways with grpcio" {
	# grpcio server stops (GOAWAY, 2 s grace) during our call
	py_server --log calls.log
	"$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --count 2 \
	    --sleep-ms 1000 -v > out.jsonl 2> err.txt &
	client=$!
	wait_until 30 grep -q ServerStream calls.log
	kill -TERM "$(head -1 servers.pid)"
	wait "$client"
	jsub "$(tail -1 out.jsonl)" '{"status":"OK"}'
	[ "$(wc -l < out.jsonl)" -eq 3 ]
	grep -q "GOAWAY from peer: NO_ERROR" err.txt
	rm servers.pid
	# our server shuts down (two GOAWAYs, grace) during a grpcio call
	c_server -v -v
	py_client "127.0.0.1:$PORT" server-stream --count 2 --sleep-ms 1500 \
	    > py.jsonl &
	client=$!
	wait_until 30 grep -q "recv DATA stream 1 flags END_STREAM" c.err
	kill -TERM "$(head -1 servers.pid)"
	wait "$client"
	jsub "$(tail -1 py.jsonl)" '{"status":"OK"}'
	[ "$(wc -l < py.jsonl)" -eq 3 ]
	# A9: a notice first, then the real last stream
	grep -q "send GOAWAY stream 0 flags none length 8: last_stream 2147483647, NO_ERROR" c.err
	grep -q "send GOAWAY stream 0 flags none length 8: last_stream 1, NO_ERROR" c.err
	run py_client "127.0.0.1:$PORT" unary --timeout 5
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
}

@test "RST_STREAM from the server maps to the status table" {
	for pair in 0:INTERNAL 1:INTERNAL 2:INTERNAL 7:UNAVAILABLE 8:CANCELLED \
	    11:RESOURCE_EXHAUSTED 12:PERMISSION_DENIED; do
		h2_server "rst:${pair%%:*}"
		run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" unary
		jsub "$(last)" '{"status":"'"${pair#*:}"'"}'
		stop_servers
	done
}

@test "non-gRPC responses: status from HTTP, never OK" {
	for pair in 404:UNIMPLEMENTED 503:UNAVAILABLE 401:UNAUTHENTICATED \
	    403:PERMISSION_DENIED 400:INTERNAL 500:UNKNOWN; do
		h2_server "http:${pair%%:*}"
		run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" unary
		jsub "$(last)" '{"status":"'"${pair#*:}"'","details":"HTTP status '"${pair%%:*}"'"}'
		stop_servers
	done
	h2_server http:200:text/html
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" unary
	jsub "$(last)" '{"status":"UNKNOWN","details":"not a gRPC response (content-type text/html)"}'
}

@test "keepalive: a server that stops answering fails the call UNAVAILABLE" {
	py_server --log calls.log
	"$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --sleep-ms 120000 \
	    --keepalive-ms 10000 --keepalive-timeout-ms 1000 > out.jsonl 2> err.txt &
	client=$!
	wait_until 30 grep -q ServerStream calls.log
	kill -STOP "$(head -1 servers.pid)"
	start=$SECONDS
	wait "$client"
	echo "failed $((SECONDS - start)) s after SIGSTOP"
	# 10 s keepalive (the minimum) + 1 s ping timeout, and slack
	[ $((SECONDS - start)) -le 40 ]
	jsub "$(last_of out.jsonl)" '{"status":"UNAVAILABLE","code":14}'
	grep -q "keepalive ping not answered" out.jsonl
}

last_of() { tail -n 1 "$1"; }

@test "too_many_pings: our server sends GOAWAY ENHANCE_YOUR_CALM" {
	c_server -v
	# A9: one ping per 5 minutes without data, two strikes allowed
	run --separate-stderr "$PYTHON3" "$PEERS/h2peer.py" client "$PORT" pings:3:2
	[ "$(printf '%s\n' "$output" | grep -c '"PING", "flags": 1')" -eq 3 ]
	[[ "$output" != *GOAWAY* ]]
	jsub "$(last)" '{"timeout":true}'
	run --separate-stderr "$PYTHON3" "$PEERS/h2peer.py" client "$PORT" pings:4
	jsub "$(printf '%s\n' "$output" | grep GOAWAY)" \
	    '{"type":"GOAWAY","last_stream":0,"error":11,"debug":"too_many_pings"}'
	jsub "$(last)" '{"closed":true}'
	grep -q "too many pings: GOAWAY ENHANCE_YOUR_CALM" c.err
	# grpcio pinging every second during a call
	run --separate-stderr py_client "127.0.0.1:$PORT" unary --sleep-ms 30000 \
	    --keepalive-ms 1000
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
	[[ "$stderr" == *'GOAWAY with error code ENHANCE_YOUR_CALM and debug data equal to "too_many_pings"'* ]]
}

@test "too_many_pings from the server: our client doubles its keepalive" {
	h2_server too-many-pings
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream \
	    --keepalive-ms 10000 --timeout 60
	jsub "$(last)" '{"status":"UNAVAILABLE","details":"connection lost: closed by peer (after GOAWAY ENHANCE_YOUR_CALM too_many_pings)"}'
	[[ "$stderr" == *"server says too many pings; keepalive now 20s"* ]]
}

@test "HTTP/2 errors the server makes are named, and a reset we send is ours" {
	# a connection error nghttp2 answers with GOAWAY: not "closed"
	h2_server data-stream-0
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" unary
	jsub "$(last)" '{"status":"UNAVAILABLE","details":"connection lost: HTTP/2 error by the server: DATA: stream_id == 0 (we sent GOAWAY PROTOCOL_ERROR)"}'
	stop_servers
	# server push, which our SETTINGS refuse (ENABLE_PUSH 0): not ignored
	h2_server push-promise
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" unary
	jsub "$(last)" '{"status":"UNAVAILABLE","details":"connection lost: HTTP/2 error by the server: PUSH_PROMISE: push disabled (we sent GOAWAY PROTOCOL_ERROR)"}'
	grep -q "recv SETTINGS stream 0 flags 0 length 24" h2.err
	stop_servers
	# a malformed response: the RST_STREAM is ours, not the peer's
	h2_server no-status
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" unary
	jsub "$(last)" '{"status":"INTERNAL","details":"stream reset by us: PROTOCOL_ERROR (the server broke HTTP/2: Violation in HTTP messaging rule)"}'
	grep -q "recv RST_STREAM stream 1" h2.err
}

@test "grpc-encoding we do not support: UNIMPLEMENTED at our server, INTERNAL at our client" {
	c_server
	# grpcio compressing with gzip (compression.md: the server says
	# UNIMPLEMENTED and which encodings it takes)
	run "$PYTHON3" - "127.0.0.1:$PORT" <<-'END'
	import sys, grpc
	ch = grpc.insecure_channel(sys.argv[1], options=[("grpc.enable_http_proxy", 0)])
	try:
	    ch.unary_unary("/evpipe.test.Echo/Unary")(b"\x0a\x02hi" * 100, timeout=10,
	                                             compression=grpc.Compression.Gzip)
	    print("OK")
	except grpc.RpcError as e:
	    print(e.code().name, e.details())
	END
	[ "$output" = "UNIMPLEMENTED grpc-encoding gzip is not supported (identity is)" ]
	# the same with curl, for the exact trailers
	printf '\1\0\0\0\4\012\002hi' > req.bin
	curl -sS --http2-prior-knowledge -D headers.txt -o /dev/null \
	    -H 'content-type: application/grpc' -H 'te: trailers' \
	    -H 'grpc-encoding: gzip' --data-binary @req.bin \
	    "http://127.0.0.1:$PORT/evpipe.test.Echo/Unary"
	cat headers.txt
	grep -q '^grpc-status: 12' headers.txt
	grep -q '^grpc-accept-encoding: identity' headers.txt
	# no grpc-encoding at all: INTERNAL, as before
	curl -sS --http2-prior-knowledge -D headers.txt -o /dev/null \
	    -H 'content-type: application/grpc' -H 'te: trailers' \
	    --data-binary @req.bin "http://127.0.0.1:$PORT/evpipe.test.Echo/Unary"
	grep -q '^grpc-status: 13' headers.txt
	grep -q '^grpc-message: compressed message without grpc-encoding' headers.txt
	stop_servers
	# a server compressing what we never accepted
	h2_server gzip
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" unary
	jsub "$(last)" '{"status":"INTERNAL","details":"message compressed with gzip, which we did not accept"}'
}

@test "our server: 415 for non-gRPC content, UNIMPLEMENTED for unknown methods" {
	c_server
	code() {
		curl -sS --http2-prior-knowledge -o /dev/null -w '%{http_code}' \
		    -H "content-type: $1" --data-binary "$2" \
		    "http://127.0.0.1:$PORT/evpipe.test.Echo/Unary"
	}
	head -c 300000 /dev/zero > big.bin # still uploading when answered
	[ "$(code application/json '{}')" = 415 ]
	[ "$(code application/json @big.bin)" = 415 ]
	[ "$(code application/grpc-web x)" = 415 ]
	[ "$(code text/plain @big.bin)" = 415 ]
	run "$PYTHON3" - "127.0.0.1:$PORT" <<-'END'
	import sys, grpc
	ch = grpc.insecure_channel(sys.argv[1], options=[("grpc.enable_http_proxy", 0)])
	for path in ("/evpipe.test.Echo/Nope", "/no.Such/Thing"):
	    try:
	        ch.unary_unary(path)(b"", timeout=10)
	        print(path, "OK")
	    except grpc.RpcError as e:
	        print(path, e.code().name, e.details())
	END
	[ "${lines[0]}" = "/evpipe.test.Echo/Nope UNIMPLEMENTED unknown method /evpipe.test.Echo/Nope" ]
	[ "${lines[1]}" = "/no.Such/Thing UNIMPLEMENTED unknown method /no.Such/Thing" ]
	# and the server is still fine
	run py_client "127.0.0.1:$PORT" unary --text ok
	jsub "$(last)" '{"status":"OK"}'
}

@test "our client: unknown method at grpcio is UNIMPLEMENTED" {
	py_server
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" /evpipe.test.Echo/Nope
	jsub "$(last)" '{"status":"UNIMPLEMENTED","code":12}'
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" /no.Such/Thing
	jsub "$(last)" '{"status":"UNIMPLEMENTED","code":12}'
}

@test "our server ends an expired call itself (curl keeps no deadline)" {
	c_server
	# EchoRequest{sleep_ms: 5000}, framed
	printf '\0\0\0\0\3\070\210\047' > req.bin
	start=$SECONDS
	run curl -sS --http2-prior-knowledge -D headers.txt -o /dev/null \
	    -H 'content-type: application/grpc' -H 'te: trailers' \
	    -H 'grpc-timeout: 300m' --data-binary @req.bin \
	    "http://127.0.0.1:$PORT/evpipe.test.Echo/Unary"
	cat headers.txt
	[ $((SECONDS - start)) -lt 5 ]
	grep -q '^grpc-status: 4' headers.txt
	grep -q '^grpc-message: deadline exceeded' headers.txt
}

@test "small receive limits are enforced both ways" {
	c_server --max-recv 1000
	run py_client "127.0.0.1:$PORT" unary --payload-size 900
	jsub "$(last)" '{"status":"OK"}'
	run py_client "127.0.0.1:$PORT" unary --payload-size 1100
	jsub "$(last)" '{"status":"RESOURCE_EXHAUSTED"}'
	stop_servers
	py_server
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --count 1 \
	    --size 900 --max-recv 1000
	jsub "$(last)" '{"status":"OK"}'
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --count 3 \
	    --size 1100 --max-recv 1000
	jsub "$(last)" '{"status":"RESOURCE_EXHAUSTED","details":"received message larger than max (1000 bytes)"}'
}

@test "connect timeout: 20 s for a server that never sends SETTINGS" {
	h2_server silent
	start=$SECONDS
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" unary
	echo "gave up after $((SECONDS - start)) s"
	jsub "$(last)" '{"status":"UNAVAILABLE","details":"connection lost: HTTP/2 SETTINGS: timed out after 20s"}'
	[ $((SECONDS - start)) -ge 19 ] && [ $((SECONDS - start)) -le 60 ]
}

@test "connection backoff grows, and resets when SETTINGS arrive" {
	export EVPIPE_RETRY_INITIAL_MS=100
	h2_server close
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" unary --retry 4
	# the delay before jitter after each failure: x1.6 each time
	[ "$(printf '%s\n' "$output" | grep -c '"attempt"')" -eq 4 ]
	jsub "${lines[0]}" '{"attempt":1,"status":"UNAVAILABLE","next_backoff_ms":160}'
	jsub "${lines[3]}" '{"attempt":4,"next_backoff_ms":655.36}'
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
	stop_servers
	h2_server settings-close
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" unary --retry 4
	[ "$(printf '%s\n' "$output" | grep -c '"next_backoff_ms":160')" -eq 4 ]
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
}

@test "-v -v traces every frame, secrets redacted" {
	py_server
	run --separate-stderr "$ECHO" client "grpc://127.0.0.1:$PORT" unary -v -v --text hi \
	    --md authorization="Bearer s3cr3t-v4lue" --md x-api-key=s3cr3t-k3y \
	    --md x-engflow-auth-token=s3cr3t-t0k3n --md x-plain=visible
	[ "$status" -eq 0 ]
	jsub "$(last)" '{"status":"OK","trailers":{"x-plain":"visible"}}'
	printf '%s\n' "$stderr" | grep -q "send HEADERS stream 1 flags END_HEADERS length [0-9]*: :method: POST, :scheme: http, :path: /evpipe.test.Echo/Unary, :authority: 127.0.0.1:$PORT, te: trailers, content-type: application/grpc, user-agent: evpipe/"
	[[ "$stderr" == *"authorization: <redacted 19 bytes>"* ]]
	[[ "$stderr" == *"x-api-key: <redacted 10 bytes>"* ]]
	[[ "$stderr" == *"x-engflow-auth-token: <redacted 12 bytes>"* ]]
	[[ "$stderr" == *"x-plain: visible"* ]]
	[[ "$stderr" != *s3cr3t* ]]
	printf '%s\n' "$stderr" | grep -q "recv SETTINGS stream 0 flags none length"
	printf '%s\n' "$stderr" | grep -q "send SETTINGS stream 0 flags ACK length 0"
	printf '%s\n' "$stderr" | grep -q "send DATA stream 1 flags END_STREAM length"
	printf '%s\n' "$stderr" | grep -q "recv HEADERS stream 1 flags END_STREAM|END_HEADERS length [0-9]*: .*grpc-status: 0"
	stop_servers
	c_server -v -v
	run py_client "127.0.0.1:$PORT" unary --md authorization=s3cr3t \
	    --md cookie=s3cr3t --md x-my-password=s3cr3t
	jsub "$(last)" '{"status":"OK"}'
	grep -q "recv HEADERS stream 1 flags END_HEADERS length [0-9]*: :scheme: http, :method: POST" c.err ||
	    grep -q "recv HEADERS stream 1 flags END_HEADERS" c.err
	grep -q "authorization: <redacted 6 bytes>" c.err
	grep -q "cookie: <redacted 6 bytes>" c.err
	grep -q "x-my-password: <redacted 6 bytes>" c.err
	! grep -q s3cr3t c.err
}
