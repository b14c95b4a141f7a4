#!/usr/bin/env bats
# resolve against independent peers: a fake EngFlow event store on
# python3-grpcio (tests/peers/eventstore.py, which also writes the
# notifications and checks the output against its own streams) and a
# fake Axway Central on python's http.server (tests/peers/central.py).

load helpers

setup_file() {
	export ESPY=$BATS_FILE_TMPDIR/espy CPY=$BATS_FILE_TMPDIR/cpy
	# compile the peers' Python modules once
	"$PYTHON3" "$PEERS/eventstore.py" notify --pyout "$ESPY" x > /dev/null
	"$PYTHON3" "$PEERS/central.py" notify --pyout "$CPY" CREATED:/a/b > /dev/null
	pyproto_setup
	make_certs "$BATS_FILE_TMPDIR/pki"
}

setup() {
	setup_tmp
	export EVPIPE_RETRY_INITIAL_MS=20
}

teardown() {
	stop_servers
}

es() { "$PYTHON3" "$PEERS/eventstore.py" "$1" --pyout "$ESPY" "${@:2}"; }
central_notify() { "$PYTHON3" "$PEERS/central.py" notify --pyout "$CPY" "$@"; }

# start_server NAME COMMAND...: run a server that prints "port N", wait
# for that line (bounded), set $PORT.
start_server() {
	local name=$1 i
	shift
	"$@" > "$name.out" 2> "$name.err" &
	echo $! >> servers.pid
	for i in $(seq 600); do
		PORT=$(sed -n 's/^port //p' "$name.out")
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	cat "$name.err" >&2
	return 1
}

# start_es [serve options]: the fake event store; $ES is its URL.
start_es() {
	start_server es "$PYTHON3" "$PEERS/eventstore.py" serve --pyout "$ESPY" \
	    --log es.log "$@"
	ES=grpc://127.0.0.1:$PORT
}

# start_tls_es NAME [serve options]: the fake event store over TLS with
# the certificate NAME of make_certs; $PORT is its port.
start_tls_es() {
	start_es --tls "$(PKI "$1.pem")" "$(PKI "$1.key")" "${@:2}"
}

start_central() {
	start_server central "$PYTHON3" "$PEERS/central.py" serve \
	    --log central.log "$@"
	CENTRAL=http://127.0.0.1:$PORT
}

stop_servers() {
	[ -f "$BATS_TEST_TMPDIR/servers.pid" ] || return 0
	while read -r pid; do
		kill -CONT "$pid" 2>/dev/null
		kill "$pid" 2>/dev/null
	done < "$BATS_TEST_TMPDIR/servers.pid"
	wait 2>/dev/null || true
	rm -f "$BATS_TEST_TMPDIR/servers.pid"
}

# wait_for COMMAND...: poll (up to 30 s) until COMMAND succeeds.
wait_for() {
	local i
	for i in $(seq 600); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

size_over() { [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -gt "$2" ]; }

# rr IN OUT ARGS...: resolve ARGS < IN > OUT; sets $status and $stderr
# (bats' run would take the output itself).
rr() {
	local in=$1 out=$2
	shift 2
	status=0
	resolve "$@" < "$in" > "$out" 2> stderr.txt || status=$?
	stderr=$(cat stderr.txt)
}

# sigterm PID: SIGTERM to PID; reap PID: wait for it, $status is its exit
# status, $took the milliseconds from the signal to its end; term PID:
# both.
sigterm() {
	t0=$(date +%s%N)
	kill -TERM "$1"
}
reap() {
	status=0
	wait "$1" || status=$?
	took=$((($(date +%s%N) - t0) / 1000000))
	echo "exit $status ${took}ms after SIGTERM"
}
term() { sigterm "$1" && reap "$1"; }

# no_crash FILE: no sanitizer report, no fault in FILE (resolve's stderr).
no_crash() {
	! grep -E 'Sanitizer|runtime error|SEGV|Segmentation' "$1"
}

# records FILE: how many delimited records FILE holds so far.
records() { evcat "$1" 2>/dev/null | wc -l; }
records_over() { [ "$(records "$1")" -gt "$2" ]; }

# pyjson EXPR < JSON lines: print EXPR evaluated for each line (as e).
pyjson() {
	"$PYTHON3" -c 'import json,sys
for l in sys.stdin:
    e = json.loads(l)
    print(eval(sys.argv[1]))' "$1"
}

@test "100 notifications of 1000 events, streams cut at random: every event once, in order" {
	# a fifth of the events come without a continuation token: after a
	# cut, resolve resumes after the last token and drops what it has
	n=100 events=1000
	# ASan and UBSan make our side slower; the peer stays the bottleneck
	[ -z "${EVPIPE_SANITIZERS:-}" ] || events=500
	seed=$RANDOM
	echo "seed $seed"
	start_es --events "$events" --cut 0.004 --seed "$seed" \
	    --cut-codes UNAVAILABLE,INTERNAL,UNKNOWN,ABORTED --tokenless 0.2
	ids=$(seq -f 'inv%g' 1 $n)
	es notify $ids > in.bin
	rr in.bin out.bin --endpoint "$ES"
	echo "$stderr"
	[ "$status" -eq 0 ]
	run es check --events "$events" $ids < out.bin
	echo "$output"
	[ "$output" = "ok $((n * events)) events" ]
	# the streams really were cut, each cut cost one more call, and most
	# calls after a cut resumed with a token (not all: a stream may be
	# cut before its first token)
	cuts=$(grep '"phase": "end"' es.log | grep -vc '"end": "OK"')
	calls=$(grep -c '"phase": "start"' es.log)
	resumed=$(grep -c '"token": [0-9]' es.log)
	echo "$cuts cuts, $calls calls, $resumed resumed with a token"
	[ "$cuts" -gt 50 ] && [ "$calls" -eq $((n + cuts)) ] &&
	    [ "$resumed" -gt $((cuts / 2)) ]
}

@test "a fast server (our esbench): 300000 events, every one, the last with evpipeack" {
	# The grpcio peer is too slow to catch races between pausing,
	# resuming and the end of a stream; this one sends as fast as we read.
	start_server esbench "$EVPIPE_BUILDDIR/tests/grpc/esbench" -n 300000
	es notify big > in.bin
	resolve -v --endpoint "grpc://127.0.0.1:$PORT" < in.bin 2> err > out.bin
	grep -q "invocation big: 300000 events in 1 calls" err
	evcat out.bin | tail -1 | grep '"evpipeack":"n-big"' | grep -q '"sequence":"00000000000000300000"'
}

@test "a stream that breaks before anything new each time is retried with backoff, up to --retries" {
	# no tokens at all: each call starts over and breaks after event 5
	start_es --events 20 --tokenless 1 --cut-at inv1=5
	es notify inv1 > in.bin
	rr in.bin out.bin --endpoint "$ES" --retries 3
	[ "$status" -eq 14 ]
	# the first failure is told at the default level, the next ones
	# (within 30 s) only at -v, then the end
	echo "$stderr"
	[ "$(wc -l <<< "$stderr")" -eq 2 ]
	[[ "$(head -1 <<< "$stderr")" == "resolve: invocation inv1: UNAVAILABLE: always cut after event 5; retrying in "*ms ]]
	[ "$(tail -1 <<< "$stderr")" = "resolve: invocation inv1: UNAVAILABLE: always cut after event 5" ]
	# 1 call with progress, then 3 that only repeated it
	[ "$(grep -c '"phase": "start"' es.log)" -eq 4 ]
}

@test "the server killed mid-stream and started again: the stream goes on after the last event" {
	start_es --salt 0123456789ab --events 1000 --known inv1=0 --live-ms 2
	port=$PORT
	es notify inv1 > in.bin
	resolve --endpoint "$ES" < in.bin > out.bin 2> resolve.err &
	pid=$!
	wait_for size_over out.bin 30000
	kill -KILL "$(head -1 servers.pid)"
	start_es --port "$port" --salt 0123456789ab --events 1000
	wait_for test ! -d /proc/$pid
	wait $pid
	cat resolve.err
	run es check inv1 < out.bin
	echo "$output"
	[ "$output" = "ok 1000 events" ]
	# the new server was asked for the events after a token
	grep -q '"token": [0-9]' es.log
}

@test "a duplicate is resolved once; one that carries evpipeack follows the first, marked" {
	start_es --events 5
	es notify inv1 inv2 inv1 inv1:again > in.bin
	resolve --endpoint "$ES" < in.bin > out.bin
	run es check --events 5 inv1 inv2 < out.bin
	[ "$output" = "ok 10 events" ]
	[ "$(grep -c '"id": "inv1"' es.log)" -eq 1 ]	# start records only

	es notify --ack inv1 inv2 inv1 inv1:again > in.bin
	resolve --endpoint "$ES" < in.bin | evcat > out.jsonl
	[ "$(wc -l < out.jsonl)" -eq 12 ]
	pyjson '(e["id"], e.get("evpipeack"), e.get("evpipeunresolved"))' \
	    < out.jsonl | sed -n '5p;10,12p' > got
	cat got
	diff -u - got <<-'END'
	('inv1/5', 'ack-n-inv1', None)
	('inv2/5', 'ack-n-inv2', None)
	('n-inv1', 'ack-n-inv1', 'DUPLICATE')
	('again', 'ack-again', 'DUPLICATE')
	END

	# --dedupe-window 0: every notification is resolved
	es notify inv1 inv1 > in.bin
	resolve --endpoint "$ES" --dedupe-window 0 < in.bin > out.bin
	run es check --events 5 inv1 inv1 < out.bin
	[ "$output" = "ok 10 events" ]
}

@test "the window forgets the oldest id" {
	start_es --events 2
	es notify a b c a > in.bin
	resolve --endpoint "$ES" --dedupe-window 2 < in.bin > out.bin
	run es check --events 2 a b c a < out.bin
	[ "$output" = "ok 8 events" ]
	es notify a b a > in.bin
	resolve --endpoint "$ES" --dedupe-window 2 < in.bin > out.bin
	run es check --events 2 a b < out.bin
	[ "$output" = "ok 4 events" ]
}

@test "other events pass through unchanged, in their place; --drop-unknown drops them" {
	start_es --events 3
	printf '%s\n' '{"specversion":"1.0","id":"u1","source":"/s","type":"t"}' |
	    evcat -e > u1.bin
	es notify --kind invocation-started inv0 > u2.bin
	es notify inv1 > n1.bin
	es notify inv2 > n2.bin
	cat u1.bin n1.bin u2.bin n2.bin | resolve --endpoint "$ES" > out.bin
	run es check --events 3 --passthrough 2 inv1 inv2 < out.bin
	echo "$output"
	[ "$output" = "ok 6 events" ]
	# byte for byte, in their places
	head -c "$(stat -c %s u1.bin)" out.bin | cmp - u1.bin
	evcat out.bin | sed -n '1p;5p' > got.jsonl
	evcat u1.bin u2.bin | diff -u - got.jsonl
	# inv0 was only started: not asked for
	! grep -q '"inv0"' es.log

	cat u1.bin n1.bin u2.bin n2.bin | resolve --endpoint "$ES" --drop-unknown > out.bin
	run es check --events 3 inv1 inv2 < out.bin
	[ "$output" = "ok 6 events" ]
}

@test "--drop-unknown: a dropped event with an evpipeack leaves an ack-only marker in its place" {
	start_es --events 3
	printf '%s\n' '{"specversion":"1.0","id":"u1","source":"/s","type":"t","evpipeack":"a-u1"}' |
	    evcat -e > u1.bin
	printf '%s\n' '{"specversion":"1.0","id":"u2","source":"/s","type":"t"}' |
	    evcat -e > u2.bin
	es notify inv1 > n1.bin
	cat u1.bin u2.bin n1.bin | resolve --endpoint "$ES" --drop-unknown > out.bin
	evcat -f '%type %{evpipeack}\n' out.bin > got
	cat got
	[ "$(wc -l < got)" -eq 4 ]
	[ "$(head -1 got)" = "dev.evpipe.ack a-u1" ]
	[ "$(evcat -f '%id %source\n' out.bin | head -1)" = "u1 /s" ]
	[ "$(sed -n 2,4p got | grep -c '^dev.evpipe.ack')" -eq 0 ]
}

@test "a plain event while notifications wait to start (issue 15): no crash, in its place, at --parallel 1, 2 and the default" {
	start_es --events 20
	printf '%s\n' '{"specversion":"1.0","id":"u1","source":"/s","type":"t"}' |
	    evcat -e > u1.bin
	es notify --kind invocation-started s1 > s1.bin
	es notify --ack n1 n2 n3 n4 n5 n6 > a.bin
	es notify --ack n7 n8 > b.bin
	es notify --ack n2:dup > dup.bin
	# six notifications, one plain event, two more; then an unselected
	# kind and a duplicate, which pass through too
	cat a.bin u1.bin b.bin s1.bin dup.bin > in.bin
	for p in 1 2 ""; do
		rr in.bin out.bin --endpoint "$ES" ${p:+--parallel $p}
		echo "--parallel ${p:-default}: $status $stderr"
		[ "$status" -eq 0 ]
		no_crash stderr.txt
		run es check --events 20 --ack --passthrough 3 n1 n2 n3 n4 n5 n6 n7 n8 < out.bin
		[ "$output" = "ok 160 events" ]
		evcat out.bin | pyjson 'e["id"]' | grep -vn / > got
		printf '121:u1\n162:n-s1\n163:dup\n' | diff -u - got
	done
}

@test "Axway: deletes while GETs wait (issue 15): no crash, each in its place, at --parallel 1 and the default" {
	start_central
	echo tok > tok
	central_notify --ack CREATED:/m/v1/envs/e/apis/s1 CREATED:/m/v1/envs/e/apis/s2 \
	    DELETED:/m/v1/envs/e/apis/s3 UPDATED:/m/v1/envs/e/apis/s4 \
	    DELETED:/m/v1/envs/e/apis/s5 DELETED:/m/v1/envs/e/apis/s6 \
	    CREATED:/m/v1/envs/e/apis/s7 SUBRESOURCEUPDATED:/m/v1/envs/e/apis/s8 \
	    DELETED:/m/v1/envs/e/apis/s9 > in.bin
	for p in 1 ""; do
		rr in.bin out.bin --api axway --central "$CENTRAL" --tenant org1 \
		    --token-file tok ${p:+--parallel $p}
		echo "--parallel ${p:-default}: $status $stderr"
		[ "$status" -eq 0 ]
		no_crash stderr.txt
		evcat out.bin | pyjson '(e["id"], e["type"].rsplit(".", 1)[-1], e.get("evpipeack"))' > got
		diff -u - got <<-'END'
		('e1', 'resource', 'ack-e1')
		('e2', 'resource', 'ack-e2')
		('e3', 'DELETED', 'ack-e3')
		('e4', 'resource', 'ack-e4')
		('e5', 'DELETED', 'ack-e5')
		('e6', 'DELETED', 'ack-e6')
		('e7', 'resource', 'ack-e7')
		('e8', 'resource', 'ack-e8')
		('e9', 'DELETED', 'ack-e9')
		END
	done
}

@test "evpipeack: the notification's own value, else its id; on the last event only" {
	start_es --events 4
	es notify --ack inv1 inv2:n2 > in.bin
	resolve --endpoint "$ES" < in.bin > out.bin
	run es check --events 4 --ack-values inv1 inv2:n2 < out.bin
	[ "$output" = "ok 8 events" ]
	es notify inv1 inv2:n2 > in.bin
	resolve --endpoint "$ES" < in.bin > out.bin
	run es check --events 4 inv1 inv2:n2 < out.bin
	[ "$output" = "ok 8 events" ]
}

@test "--pass-notifications: each notification ahead of its events, as it came less evpipeack; the ack stays on the last event" {
	start_es --events 3 --not-found inv3
	printf '%s\n' '{"specversion":"1.0","id":"u1","source":"/s","type":"t"}' |
	    evcat -e > u1.bin
	es notify --ack inv1 inv2 > n12.bin
	es notify --ack inv3 > n3.bin
	es notify --ack inv1:again > dup.bin
	es notify --ack --kind invocation-started inv9 > started.bin
	cat n12.bin u1.bin n3.bin dup.bin started.bin > in.bin
	for p in 1 4; do
		resolve --endpoint "$ES" --pass-notifications --parallel $p \
		    < in.bin > out.bin
		# byte for byte (the checker makes them as notify did)
		run es check --events 3 --ack --notifications --passthrough 4 \
		    inv1 inv2 < out.bin
		echo "$output"
		[ "$output" = "ok 6 events" ]
		evcat out.bin | pyjson '(e["id"], e.get("evpipeack"), e.get("evpipeunresolved"))' > got
		diff -u - got <<-'END'
		('n-inv1', None, None)
		('inv1/1', None, None)
		('inv1/2', None, None)
		('inv1/3', 'ack-n-inv1', None)
		('n-inv2', None, None)
		('inv2/1', None, None)
		('inv2/2', None, None)
		('inv2/3', 'ack-n-inv2', None)
		('u1', None, None)
		('n-inv3', 'ack-n-inv3', 'NOT_FOUND')
		('again', 'ack-again', 'DUPLICATE')
		('n-inv9', 'ack-n-inv9', None)
		END
	done
	# without evpipeack on the input: the ack is the notification's id,
	# and a duplicate goes on too
	es notify inv1 inv1:again > in.bin
	resolve --endpoint "$ES" --pass-notifications < in.bin | evcat |
	    pyjson '(e["id"], e.get("evpipeack"), e.get("evpipeunresolved"))' > got
	diff -u - got <<-'END'
	('n-inv1', None, None)
	('inv1/1', None, None)
	('inv1/2', None, None)
	('inv1/3', 'n-inv1', None)
	('again', 'again', 'DUPLICATE')
	END
	# for EngFlow only
	run resolve --api axway --central http://127.0.0.1:1 --tenant t \
	    --token x --pass-notifications < /dev/null
	[ "$status" -eq 64 ]
}

@test "--pass-notifications with streams cut and resumed: each notification once, ahead of its events" {
	seed=$RANDOM
	echo "seed $seed"
	start_es --events 40 --cut 0.1 --seed "$seed" --tokenless 0.2
	ids=$(seq -f 'inv%g' 1 10)
	es notify --ack $ids > in.bin
	resolve --endpoint "$ES" --pass-notifications < in.bin > out.bin
	run es check --events 40 --ack --notifications $ids < out.bin
	echo "$output"
	[ "$output" = "ok 400 events" ]
	# the streams really were cut
	grep '"phase": "end"' es.log | grep -vq '"end": "OK"'
}

@test "a notification that is the BuildLifecycleEventNotification itself" {
	start_es --events 3
	es notify --direct --instance tenant1 inv1 > in.bin
	resolve --endpoint "$ES" < in.bin > out.bin
	run es check --events 3 inv1 < out.bin
	[ "$output" = "ok 3 events" ]
	grep -q '"instance": "tenant1"' es.log
}

@test "the CloudEvent of an event, attribute by attribute" {
	start_es --events 2
	es notify inv1 > in.bin
	resolve --endpoint "$ES" < in.bin | evcat --data=proto > out.jsonl
	sed -n 1p out.jsonl | pyjson '[(k, e[k]) for k in sorted(e) if k != "data_proto"]' > got
	cat got
	echo "[('id', 'inv1/1'), ('principal', 'alice'), ('sequence', '00000000000000000001'), ('source', '$ES'), ('specversion', '1.0'), ('subject', 'inv1'), ('time', '2023-11-14T22:13:20Z'), ('type', 'engflow.eventstore.v1.BuildProgressEvent')]" > want
	diff -u want got
	sed -n 2p out.jsonl | pyjson 'e["data_proto"]["type_url"], e["evpipeack"], e["sequence"], e["time"]' > got
	echo "('type.googleapis.com/engflow.eventstore.v1.BuildProgressEvent', 'n-inv1', '00000000000000000002', '2023-11-14T22:13:21.000000001Z')" > want
	diff -u want got
}

@test "--builds resolves build notifications with GetBuild" {
	start_es --events 4
	es notify --kind build-finished b1 > in.bin
	es notify inv1 >> in.bin
	resolve --endpoint "$ES" --builds < in.bin > out.bin
	run es check --events 4 --builds --passthrough 1 b1 < out.bin
	echo "$output"
	[ "$output" = "ok 4 events" ]
	grep -q '"method": "build"' es.log
	! grep -q '"method": "invocation"' es.log
}

@test "--on chooses the phase" {
	start_es --events 2
	es notify --kind invocation-started s1 > in.bin
	es notify f1 >> in.bin
	resolve --endpoint "$ES" --on started < in.bin > out.bin
	run es check --events 2 --passthrough 1 s1 < out.bin
	[ "$output" = "ok 2 events" ]
	resolve --endpoint "$ES" --on started,finished < in.bin > out.bin
	run es check --events 2 s1 f1 < out.bin
	[ "$output" = "ok 4 events" ]
	run resolve --endpoint "$ES" --on ended < in.bin
	[ "$status" -eq 64 ]
}

@test "--replay-mode stop-after-last-known stops at the last event stored" {
	start_es --events 100 --known inv1=10
	es notify inv1 > in.bin
	resolve --endpoint "$ES" --replay-mode stop-after-last-known < in.bin |
	    evcat > out.jsonl
	[ "$(wc -l < out.jsonl)" -eq 10 ]
	[ "$(grep -c evpipeack out.jsonl)" -eq 1 ]
	tail -1 out.jsonl | grep -q '"evpipeack":"n-inv1"'
	grep -q '"replay_mode": 2' es.log
	# until-complete (the default) follows it to the end
	resolve --endpoint "$ES" < in.bin > out.bin
	run es check --events 100 inv1 < out.bin
	[ "$output" = "ok 100 events" ]
	grep -q '"replay_mode": 0' es.log
}

@test "NOT_FOUND and other errors about one invocation: warned, passed through marked, the rest goes on" {
	start_es --events 3 --not-found inv2 --fail inv3=INVALID_ARGUMENT
	es notify inv1 inv2 inv3 inv4 > in.bin
	rr in.bin out.bin --endpoint "$ES"
	[ "$status" -eq 0 ]
	echo "$stderr"
	[[ "$stderr" == *"resolve: invocation inv2: NOT_FOUND: no such invocation (passed through unresolved)"* ]]
	[[ "$stderr" == *"resolve: invocation inv3: INVALID_ARGUMENT: failing on purpose (passed through unresolved)"* ]]
	evcat out.bin | pyjson '(e["id"], e.get("evpipeack"), e.get("evpipeunresolved"))' |
	    sed -n '3,5p' > got
	diff -u - got <<-'END'
	('inv1/3', 'n-inv1', None)
	('n-inv2', 'n-inv2', 'NOT_FOUND')
	('n-inv3', 'n-inv3', 'INVALID_ARGUMENT')
	END
	run es check --events 3 --passthrough 2 inv1 inv4 < out.bin
	[ "$output" = "ok 6 events" ]
}

@test "tokens: the EngFlow headers, bearer, none; UNAUTHENTICATED stops with 16" {
	start_es --events 2 --token sekrit
	es notify inv1 > in.bin
	run --separate-stderr resolve --endpoint "$ES" < in.bin
	[ "$status" -eq 16 ]
	[ "$stderr" = "resolve: invocation inv1: UNAUTHENTICATED: bad or missing token" ]
	[ "$(grep -c '"phase": "start"' es.log)" -eq 1 ]
	grep -q '"auth": {}' es.log
	echo sekrit > tok
	resolve --endpoint "$ES" --token-file tok < in.bin > out.bin
	run es check --events 2 inv1 < out.bin
	[ "$output" = "ok 2 events" ]
	grep '"phase": "start"' es.log | tail -1 |
	    grep -q '"x-engflow-auth-method": "jwt-v0", "x-engflow-auth-token": "sekrit"'
	SEKRIT=sekrit resolve --endpoint "$ES" --token-env SEKRIT < in.bin > out.bin
	resolve --endpoint "$ES" --token-command 'echo sekrit' < in.bin > out.bin
	run es check --events 2 inv1 < out.bin
	[ "$output" = "ok 2 events" ]
	run --separate-stderr resolve --endpoint "$ES" --token sekrit < in.bin
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"visible to other users"* ]]
	[[ "$stderr" != *"sekrit"* ]]
	stop_servers
	start_es --events 2 --bearer sekrit
	resolve --endpoint "$ES" --token-file tok --auth-header bearer < in.bin > out.bin
	run es check --events 2 inv1 < out.bin
	[ "$output" = "ok 2 events" ]
	grep -q '"authorization": "Bearer sekrit"' es.log
}

@test "PERMISSION_DENIED stops with 7, after the invocations before it" {
	start_es --events 3 --deny inv2
	es notify inv1 inv2 inv3 > in.bin
	rr in.bin out.bin --endpoint "$ES" --parallel 1
	[ "$status" -eq 7 ]
	[ "$stderr" = "resolve: invocation inv2: PERMISSION_DENIED: not yours" ]
	run es check --events 3 inv1 < out.bin
	[ "$output" = "ok 3 events" ]
}

@test "an event store that cannot be reached: exit 69 once --retries are used up" {
	# exit-status: resolve 69
	es notify inv1 > in.bin
	run --separate-stderr resolve --endpoint grpc://127.0.0.1:1 --retries 3 < in.bin
	[ "$status" -eq 69 ]
	[ "${#stderr_lines[@]}" -eq 2 ]
	[[ "${stderr_lines[0]}" == "resolve: invocation inv1: UNAVAILABLE: connection lost: connect: Connection refused; retrying in "*ms ]]
	[ "${stderr_lines[1]}" = "resolve: invocation inv1: UNAVAILABLE: connection lost: connect: Connection refused" ]
}

@test "every gRPC status the event store ends a call with: the exit status resolve.1 gives, or passed on unresolved" {
	# exit-status: resolve 0
	# exit-status: resolve 1
	# exit-status: resolve 2
	# exit-status: resolve 4
	# exit-status: resolve 7
	# exit-status: resolve 8
	# exit-status: resolve 10
	# exit-status: resolve 12
	# exit-status: resolve 13
	# exit-status: resolve 14
	# exit-status: resolve 16
	# resolve.1, EXIT STATUS: statuses worth retrying end resolve with
	# the status once --retries are used up; UNAUTHENTICATED,
	# PERMISSION_DENIED and UNIMPLEMENTED at once; the others concern
	# one notification, which passes on marked, and resolve goes on
	local codes="CANCELLED=1 UNKNOWN=2 INVALID_ARGUMENT=0 DEADLINE_EXCEEDED=4
	    NOT_FOUND=0 ALREADY_EXISTS=0 PERMISSION_DENIED=7 RESOURCE_EXHAUSTED=8
	    FAILED_PRECONDITION=0 ABORTED=10 OUT_OF_RANGE=0 UNIMPLEMENTED=12
	    INTERNAL=13 UNAVAILABLE=14 DATA_LOSS=0 UNAUTHENTICATED=16"
	local fails=() c name want
	for c in $codes; do
		fails+=(--fail "i${c%=*}=${c%=*}")
	done
	start_es --events 3 "${fails[@]}"
	for c in $codes; do
		name=${c%=*} want=${c#*=}
		es notify --ack "i$name" ok1 > in.bin
		rr in.bin out.bin --endpoint "$ES" --retries 2 --parallel 1
		echo "$name: $status: $stderr"
		[ "$status" -eq "$want" ]
		no_crash stderr.txt
		[[ "$stderr" == *"resolve: invocation i$name: $name: failing on purpose"* ]]
		if [ "$want" -eq 0 ]; then
			# marked, acknowledged, and the next one resolved
			evcat out.bin | head -1 | pyjson '(e["evpipeunresolved"], e["evpipeack"])' |
			    grep -qx "('$name', 'ack-n-i$name')"
			run es check --events 3 --ack --passthrough 1 ok1 < out.bin
			[ "$output" = "ok 3 events" ]
		else
			# nothing written, so nothing acknowledged
			[ ! -s out.bin ]
		fi
	done
}

@test "a stream the server cancels midway is resumed, not taken for complete" {
	# CANCELLED from a server (one shutting down) says nothing about the
	# invocation: passing on what came, with evpipeack, would lose the rest
	seed=$RANDOM
	echo "seed $seed"
	start_es --events 50 --cut 0.05 --cut-codes CANCELLED --seed "$seed"
	es notify --ack inv1 inv2 inv3 > in.bin
	rr in.bin out.bin --endpoint "$ES"
	[ "$status" -eq 0 ]
	run es check --events 50 --ack inv1 inv2 inv3 < out.bin
	echo "$output"
	[ "$output" = "ok 150 events" ]
	grep -q '"end": "CANCELLED"' es.log
}

@test "out of memory: exit 70 with one line, nothing written" {
	# exit-status: resolve 70
	# one record of 48 MiB (-m 64M takes it): its buffer or its copy is
	# refused by the allocator's limit (sanitizers) or the address
	# space's (plain)
	"$PYTHON3" -c '
import sys
def varint(n):
    b = b""
    while True:
        b += bytes([(n & 0x7f) | (0x80 if n > 0x7f else 0)])
        n >>= 7
        if not n:
            return b
def field(num, v):
    return bytes([num << 3 | 2]) + varint(len(v)) + v
ev = field(1, b"1") + field(2, b"/s") + field(3, b"1.0") + field(4, b"t") + \
    field(6, bytes(48 << 20))
sys.stdout.buffer.write(varint(len(ev)) + ev)' > big.bin
	if [ -n "$EVPIPE_SANITIZERS" ]; then
		status=0
		ASAN_OPTIONS="$ASAN_OPTIONS:allocator_may_return_null=1:max_allocation_size_mb=32" \
		    resolve -m 64M --endpoint grpc://127.0.0.1:1 --retries 1 \
		    < big.bin > out.bin 2> stderr.txt || status=$?
	else
		status=0
		(ulimit -v 98304 && exec resolve -m 64M \
		    --endpoint grpc://127.0.0.1:1 --retries 1) \
		    < big.bin > out.bin 2> stderr.txt || status=$?
	fi
	cat stderr.txt
	[ "$status" -eq 70 ]
	[ ! -s out.bin ]
	# ASan says so too when an allocation is refused; that line is its own
	[ "$(grep -v '^==[0-9]*==WARNING: AddressSanitizer failed to allocate' stderr.txt)" = "resolve: out of memory" ]
}

@test "exit statuses for local failures: stdin unreadable 74, bad input 65, /dev/full 74, a reader gone 0 (both APIs)" {
	# exit-status: resolve 0
	# exit-status: resolve 65
	# exit-status: resolve 74
	echo tok > tok
	central_notify CREATED:/a/b/c > ax.bin
	for api in engflow axway; do
		if [ $api = engflow ]; then
			set -- --endpoint grpc://127.0.0.1:1
		else
			set -- --api axway --central http://127.0.0.1:1 --tenant t --token-file tok
		fi
		rr / out.bin "$@"
		echo "$api: $status $stderr"
		[ "$status" -eq 74 ]
		[ "$stderr" = "resolve: stdin: Is a directory" ]
		printf '\377' > bad.bin
		rr bad.bin out.bin "$@"
		echo "$api: $status $stderr"
		[ "$status" -eq 65 ]
		no_crash stderr.txt
		rr "$DATA/man/events.jsonl" out.bin "$@"
		[ "$status" -eq 65 ]
		evcat -e "$DATA/man/events.jsonl" > plain.bin
		rr plain.bin /dev/full "$@"
		echo "$api: $status $stderr"
		[ "$status" -eq 74 ]
		[ "$stderr" = "resolve: stdout: No space left on device" ]
		cp plain.bin big.bin	# doubled 11 times: 4096 events
		for i in 1 2 3 4 5 6 7 8 9 10 11; do
			cat big.bin big.bin > big2.bin && mv big2.bin big.bin
		done
		run bash -c 'set -o pipefail; resolve "$@" < big.bin 2> err |
		    head -c1 > /dev/null' resolve "$@"
		echo "$api: $status $(cat err)"
		[ "$status" -eq 0 ]
		[ ! -s err ]
	done
	# an Axway watch event that does not parse
	echo '{"specversion":"1.0","id":"x","source":"/s","type":"t","data_proto":{"type_url":"type.googleapis.com/central.events.v1.Event","value":"/w=="}}' |
	    evcat -e > bad.bin
	rr bad.bin out.bin --api axway --central http://127.0.0.1:1 --tenant t --token-file tok
	[ "$status" -eq 65 ]
	[ "$stderr" = "resolve: stdin: record 1 at byte 0: central.events.v1.Event does not parse" ]
}

@test "grpcs: the server verified against --cacert, by address and by name; the events arrive" {
	start_tls_es server --events 3
	es notify inv1 > in.bin
	for host in 127.0.0.1 localhost; do
		rr in.bin out.bin --endpoint "grpcs://$host:$PORT" \
		    --cacert "$(PKI ca.pem)"
		echo "$host: $status $stderr"
		[ "$status" -eq 0 ]
		[ -z "$stderr" ]
		run es check --events 3 inv1 < out.bin
		[ "$output" = "ok 3 events" ]
	done
	# the source is the endpoint, as given
	evcat out.bin | head -1 | grep -qF "\"source\":\"grpcs://localhost:$PORT\""
	[ "$(grep -c '"phase": "start"' es.log)" -eq 2 ]
}

@test "grpcs: a certificate no trusted CA signed: one line saying so, exit 69 after --retries, no call" {
	start_tls_es server --events 3
	es notify inv1 > in.bin
	want="resolve: invocation inv1: UNAVAILABLE: connection lost: TLS handshake: unable to get local issuer certificate"
	# the system's CAs (no --cacert)
	rr in.bin out.bin --endpoint "grpcs://127.0.0.1:$PORT" --retries 2
	[ "$status" -eq 69 ]
	[[ "$(head -1 <<< "$stderr")" == "$want; retrying in "*ms ]]
	[ "$(tail -n +2 <<< "$stderr")" = "$want" ]
	[ ! -s out.bin ]
	# another CA
	rr in.bin out.bin --endpoint "grpcs://localhost:$PORT" --retries 1 \
	    --cacert "$(PKI otherca.pem)"
	[ "$status" -eq 69 ]
	[ "$stderr" = "$want" ]
	[ ! -s out.bin ]
	[ ! -s es.log ]
}

@test "grpcs: a certificate for another host: hostname or IP address mismatch, exit 69" {
	# signed by the CA, for elsewhere.example only
	start_tls_es elsewhere --events 3
	es notify inv1 > in.bin
	rr in.bin out.bin --endpoint "grpcs://localhost:$PORT" --retries 1 \
	    --cacert "$(PKI ca.pem)"
	[ "$status" -eq 69 ]
	[ "$stderr" = "resolve: invocation inv1: UNAVAILABLE: connection lost: TLS handshake: hostname mismatch" ]
	rr in.bin out.bin --endpoint "grpcs://127.0.0.1:$PORT" --retries 1 \
	    --cacert "$(PKI ca.pem)"
	[ "$status" -eq 69 ]
	[ "$stderr" = "resolve: invocation inv1: UNAVAILABLE: connection lost: TLS handshake: IP address mismatch" ]
	[ ! -s out.bin ]
	[ ! -s es.log ]
}

@test "--insecure: the certificate is not checked, a warning says so; grpcs:// only" {
	# for another host, and no --cacert
	start_tls_es elsewhere --events 3
	es notify inv1 > in.bin
	rr in.bin out.bin --endpoint "grpcs://localhost:$PORT" --insecure
	[ "$status" -eq 0 ]
	[ "$stderr" = "resolve: localhost:$PORT: --insecure: the server's certificate is not checked" ]
	run es check --events 3 inv1 < out.bin
	[ "$output" = "ok 3 events" ]
	run --separate-stderr resolve --endpoint "grpc://127.0.0.1:$PORT" --insecure < in.bin
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "resolve: grpc://127.0.0.1:$PORT: TLS options need grpcs://" ]
}

@test "grpcs to a cleartext event store: exit 69, saying so" {
	start_es --events 3
	es notify inv1 > in.bin
	rr in.bin out.bin --endpoint "grpcs://127.0.0.1:$PORT" --retries 1 \
	    --cacert "$(PKI ca.pem)"
	[ "$status" -eq 69 ]
	[ "$stderr" = "resolve: invocation inv1: UNAVAILABLE: connection lost: TLS handshake failed: wrong version number" ]
	[ ! -s es.log ]
}

@test "mutual TLS: --cert and --key, or --tls_certificate and --tls_key; none or a stranger's: exit 14, saying why" {
	start_tls_es server --events 3 --client-ca "$(PKI ca.pem)"
	es notify inv1 > in.bin
	tls() {
		rr in.bin out.bin --endpoint "grpcs://127.0.0.1:$PORT" \
		    --cacert "$(PKI ca.pem)" --retries 1 "$@"
		echo "$*: $status $stderr"
	}
	tls --cert "$(PKI client.pem)" --key "$(PKI client.key)"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	run es check --events 3 inv1 < out.bin
	[ "$output" = "ok 3 events" ]
	# the EngFlow client's names, as it spells them
	tls --tls_certificate="$(PKI client.pem)" --tls_key="$(PKI client.key)"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	run es check --events 3 inv1 < out.bin
	[ "$output" = "ok 3 events" ]
	# none: grpcio closes the connection after the TLS 1.3 handshake
	tls
	[ "$status" -eq 69 ]
	[ "$stderr" = "resolve: invocation inv1: UNAVAILABLE: connection lost: TLS read failed: unexpected eof while reading (the server asked for a client certificate)" ]
	[ ! -s out.bin ]
	# one that another CA signed
	tls --cert "$(PKI intruder.pem)" --key "$(PKI intruder.key)"
	[ "$status" -eq 69 ]
	[ "$stderr" = "resolve: invocation inv1: UNAVAILABLE: connection lost: TLS read failed: unexpected eof while reading" ]
	[ ! -s out.bin ]
	# only the two good ones were calls
	[ "$(grep -c '"phase": "start"' es.log)" -eq 2 ]
}

@test "TLS files that cannot be used: exit 64, naming the file and why" {
	es notify inv1 > in.bin
	tls() {
		run --separate-stderr resolve --endpoint grpcs://127.0.0.1:1 "$@" < in.bin
		echo "$*: $status $stderr"
		[ "$status" -eq 64 ]
	}
	tls --cacert "$BATS_TEST_TMPDIR/nonexistent"
	[ "$stderr" = "resolve: CA certificates $BATS_TEST_TMPDIR/nonexistent: No such file or directory" ]
	tls --cacert "$(PKI client.key)"
	[ "$stderr" = "resolve: CA certificates $(PKI client.key): no certificate or crl found" ]
	tls --cert "$(PKI client.pem)" --key "$(PKI server.key)"
	[ "$stderr" = "resolve: private key $(PKI server.key): key values mismatch" ]
	tls --tls_certificate "$(PKI client.pem)" --tls_key "$BATS_TEST_TMPDIR/nonexistent"
	[ "$stderr" = "resolve: private key $BATS_TEST_TMPDIR/nonexistent: No such file or directory" ]
}

@test "a malformed record ends the input after the events before it: exit 65" {
	start_es --events 3
	es notify inv1 inv2 > in.bin
	size=$(stat -c %s in.bin)
	printf '\005ab' >> in.bin
	rr in.bin out.bin --endpoint "$ES"
	[ "$status" -eq 65 ]
	[ "$stderr" = "resolve: stdin: record 3 at byte $size: truncated record (2 of 5 bytes)" ]
	run es check --events 3 inv1 inv2 < out.bin
	[ "$output" = "ok 6 events" ]

	# a notification whose message does not parse
	echo '{"specversion":"1.0","id":"x","source":"/s","type":"t","data_proto":{"type_url":"type.googleapis.com/engflow.notification.v1.Notification","value":"/w=="}}' |
	    evcat -e > bad.bin
	head -c "$size" in.bin | cat - bad.bin > both.bin
	rr both.bin out.bin --endpoint "$ES"
	[ "$status" -eq 65 ]
	[ "$stderr" = "resolve: stdin: record 3 at byte $size: engflow.notification.v1.Notification does not parse" ]
	run es check --events 3 inv1 inv2 < out.bin
	[ "$output" = "ok 6 events" ]
}

@test "a slow reader: the streams are held back and memory stays bounded" {
	# 4 invocations of 400 events of 64 KiB: 100 MiB in all
	start_es --events 400 --payload-size 65536
	es notify inv1 inv2 inv3 inv4 > in.bin
	resolve -v --endpoint "$ES" --parallel 4 < in.bin 2> err |
	    "$PYTHON3" -c '
import sys, time
while True:
    b = sys.stdin.buffer.read(1 << 18)
    if not b:
        break
    sys.stdout.buffer.write(b)
    time.sleep(0.004)' > out.bin
	cat err
	run es check --events 400 --payload-size 65536 inv1 inv2 inv3 inv4 < out.bin
	[ "$output" = "ok 1600 events" ]
	rss=$(sed -n 's/.*peak RSS \([0-9]*\) KiB/\1/p' err)
	echo "peak RSS $rss KiB"
	# ASan's shadow memory and quarantine add their own
	if [ -n "${EVPIPE_SANITIZERS:-}" ]; then
		[ "$rss" -lt 262144 ]
	else
		[ "$rss" -lt 40960 ]
	fi
}

@test "16 large invocations at once on one connection: waiting ones do not starve the head" {
	# Each waiting stream holds up to its window (1 MiB) while paused;
	# 15 of them must not use up the connection's window (8 MiB).
	start_es --events 100 --payload-size 65536
	ids=$(seq -f 'big%g' 1 16)
	es notify $ids > in.bin
	status=0
	timeout -k 5 60 resolve --endpoint "$ES" --parallel 16 < in.bin > out.bin || status=$?
	[ "$status" -eq 0 ]
	run es check --events 100 --payload-size 65536 $ids < out.bin
	[ "$output" = "ok 1600 events" ]
}

@test "SIGTERM: no more input, what was accepted is finished in time, exit 0" {
	start_es --events 500 --known inv1=0 --live-ms 2
	es notify inv1 > in.bin
	mkfifo in
	resolve --endpoint "$ES" --drain-timeout 60s < in > out.bin 2> err &
	pid=$!
	exec 7> in
	cat in.bin >&7
	wait_for size_over out.bin 2000
	kill -TERM $pid
	es notify inv2 >&7
	status=0
	wait $pid || status=$?
	exec 7>&-
	cat err
	[ "$status" -eq 0 ]
	run es check --events 500 inv1 < out.bin
	[ "$output" = "ok 500 events" ]
	! grep -q '"inv2"' es.log
	# what the stop waits for, at the default level
	grep -qx 'resolve: signal 15: finishing 1 notification, for at most 1m' err
}

@test "SIGTERM while a call waits on a silent server: exit 4 after --drain-timeout, nothing acknowledged" {
	# exit-status: resolve 4
	# accepts, reads, never sends a byte (not even SETTINGS)
	start_server silent "$PYTHON3" "$PEERS/h2peer.py" server silent
	es notify --ack inv1 inv2 > in.bin
	resolve --endpoint "grpc://127.0.0.1:$PORT" --drain-timeout 1s \
	    < in.bin > out.bin 2> err &
	pid=$!
	sleep 0.5
	term $pid
	cat err
	[ "$status" -eq 4 ]
	[ "$took" -ge 900 ] && [ "$took" -lt 5000 ]
	[ ! -s out.bin ]
	grep -qx 'resolve: drain timeout (1s): 2 notifications cut short, not acknowledged' err
	no_crash err

	# Axway: a GET to a silent Central (libcurl would wait 10 s)
	central_notify --ack CREATED:/a/b/c > in.bin
	echo tok > tok
	resolve --api axway --central "http://127.0.0.1:$PORT" --tenant org1 \
	    --token-file tok --drain-timeout 1s < in.bin > out.bin 2> err &
	pid=$!
	sleep 0.5
	term $pid
	cat err
	[ "$status" -eq 4 ]
	[ "$took" -ge 900 ] && [ "$took" -lt 5000 ]
	[ ! -s out.bin ]
	no_crash err
}

@test "SIGTERM mid-stream while a handler sleeps: the finished notification written and acknowledged, the rest cut short, exit 4" {
	# inv2's calls send 3 of its 5 events, then nothing until cancelled
	start_es --events 5 --hang inv2=3
	es notify --ack inv1 inv2 inv3 > in.bin
	es notify --ack inv4 > late.bin
	mkfifo in
	resolve --endpoint "$ES" --drain-timeout 1s < in > out.bin 2> err &
	pid=$!
	exec 7> in
	cat in.bin >&7
	# inv1's 5 and 2 of inv2's (the third waits to show it is not the last)
	wait_for records_over out.bin 6
	sigterm $pid
	cat late.bin >&7	# after the signal: never read
	reap $pid
	exec 7>&-
	cat err
	[ "$status" -eq 4 ]
	[ "$took" -lt 5000 ]
	grep -qx 'resolve: drain timeout (1s): 1 notification cut short, not acknowledged' err
	# inv1 complete with its evpipeack; of inv2 what came, without it;
	# inv3 (resolved meanwhile, behind inv2) not at all
	run es check --events 5 --ack --prefix inv1 inv2 inv3 < out.bin
	echo "$output"
	[ "$output" = "ok 7 events, 1 complete" ]
	[ "$(evcat out.bin | grep -c evpipeack)" -eq 1 ]
	# the server saw inv2's call end, and was never asked for inv4
	wait_for grep -q '"end": "CANCELLED"' es.log
	! grep -q '"inv4"' es.log
	no_crash err
}

@test "SIGTERM while the event store cannot be reached: exit 4 in time; the failed attempts told once, rate-limited" {
	es notify --ack inv1 > in.bin
	resolve --endpoint grpc://127.0.0.1:1 --drain-timeout 1s < in.bin \
	    > out.bin 2> err &
	pid=$!
	sleep 1.5
	term $pid
	cat err
	[ "$status" -eq 4 ]
	[ "$took" -ge 900 ] && [ "$took" -lt 5000 ]
	[ ! -s out.bin ]
	# dozens of attempts at 20 ms and up, one line (the next in 30 s)
	[ "$(grep -c 'Connection refused' err)" -eq 1 ]
	grep -q '^resolve: invocation inv1: UNAVAILABLE: connection lost: connect: Connection refused; retrying in ' err
	no_crash err
}

@test "a second SIGTERM ends resolve at once" {
	start_es --events 5 --hang inv1=2
	es notify inv1 > in.bin
	resolve --endpoint "$ES" --drain-timeout 60s < in.bin > out.bin 2> err &
	pid=$!
	wait_for grep -q '"phase": "start"' es.log
	kill -TERM $pid
	sleep 0.3
	term $pid
	# killed by the second signal: 128 + 15
	[ "$status" -eq 143 ]
	[ "$took" -lt 3000 ]
}

@test "an event store that comes back: the outage told once, then reconnected after N attempts" {
	start_es --events 3
	port=$PORT
	stop_servers
	es notify inv1 > in.bin
	resolve --endpoint "grpc://127.0.0.1:$port" < in.bin > out.bin 2> err &
	pid=$!
	sleep 1
	start_es --port "$port" --events 3
	wait_for test ! -d /proc/$pid
	status=0
	wait $pid || status=$?
	cat err
	[ "$status" -eq 0 ]
	run es check --events 3 inv1 < out.bin
	[ "$output" = "ok 3 events" ]
	[ "$(wc -l < err)" -eq 2 ]
	grep -q "^resolve: invocation inv1: UNAVAILABLE: connection lost: connect: Connection refused; retrying in " err
	grep -Eq "^resolve: grpc://127.0.0.1:$port: reconnected after [0-9]+ attempts, [0-9.]+m?s$" err
}

@test "a reader that goes away: quiet stop, exit 0; /dev/full: exit 74" {
	start_es --events 1000
	es notify inv1 inv2 > in.bin
	run bash -c 'set -o pipefail; resolve --endpoint "$0" < in.bin 2> err | head -c1 > /dev/null' "$ES"
	[ "$status" -eq 0 ]
	[ ! -s err ]
	rr in.bin /dev/full --endpoint "$ES"
	[ "$status" -eq 74 ]
	[ "$stderr" = "resolve: stdout: No space left on device" ]
}

@test "bad command lines: exit 64" {
	# exit-status: resolve 64
	for args in "" "--endpoint http://x" "--endpoint grpc://x --parallel 0" \
	    "--endpoint grpc://x --bogus" "--api axway --central https://x" \
	    "--api axway --central https://x --tenant t" \
	    "--endpoint grpc://x --replay-mode sometimes" \
	    "--endpoint grpc://x --tls_certificate c.pem" \
	    "--endpoint grpc://x --cacert c.pem" \
	    "--endpoint grpc://x --insecure" \
	    "--endpoint grpc://x --key k.pem" \
	    "--endpoint grpc://x --token a --token-file b" \
	    "--endpoint grpc://x --token-file /nonexistent"; do
		run resolve $args < /dev/null
		echo "$args: $status $output"
		[ "$status" -eq 64 ]
		[[ "$output" != *Sanitizer* && "$output" != *"runtime error"* ]]
	done
}

@test "Axway: the resource with bearer token and tenant; deletes pass; 404 passes marked; 503 retried" {
	start_central --token sekrit --tenant org1 \
	    --missing /management/v1alpha1/environments/e/apiservices/gone \
	    --fail /management/v1alpha1/environments/e/apiservices/flaky=2:503
	echo sekrit > tok
	central_notify --ack CREATED:/management/v1alpha1/environments/e/apiservices/s1 \
	    DELETED:/management/v1alpha1/environments/e/apiservices/s2 \
	    UPDATED:/management/v1alpha1/environments/e/apiservices/gone \
	    UPDATED:/management/v1alpha1/environments/e/apiservices/flaky > in.bin
	rr in.bin out.bin --api axway --central "$CENTRAL" --tenant org1 \
	    --token-file tok
	echo "$stderr"
	[ "$status" -eq 0 ]
	evcat --data=proto out.bin > out.jsonl
	pyjson '(e["id"], e["type"], e.get("subject"), e.get("evpipeack"), e.get("evpipeunresolved"), e.get("axwayevent"), e.get("datacontenttype"))' \
	    < out.jsonl > got
	diff -u - got <<-'END'
	('e1', 'com.axway.central.resource', '/management/v1alpha1/environments/e/apiservices/s1', 'ack-e1', None, 'CREATED', 'application/json')
	('e2', 'central.events.v1.Event.DELETED', '/management/v1alpha1/environments/e/apiservices/s2', 'ack-e2', None, None, None)
	('e3', 'central.events.v1.Event.UPDATED', '/management/v1alpha1/environments/e/apiservices/gone', 'ack-e3', 'NOT_FOUND', None, None)
	('e4', 'com.axway.central.resource', '/management/v1alpha1/environments/e/apiservices/flaky', 'ack-e4', None, 'UPDATED', 'application/json')
	END
	# the resource is the body as Central sent it
	sed -n 1p out.jsonl | pyjson '(lambda d: (d["metadata"]["selfLink"], d["kind"], e["sequence"]))(json.loads(e["data"]) if isinstance(e["data"], str) else e["data"])' > got
	echo "('/management/v1alpha1/environments/e/apiservices/s1', 'apiservices', '1')" | diff -u - got
	# the deleted one is byte for byte what came in
	evcat --data=proto in.bin | sed -n 2p | diff -u - <(sed -n 2p out.jsonl)
	[ "$(grep -c '"status": 503' central.log)" -eq 2 ]
	[ "$(grep -c '"authorization": "Bearer sekrit"' central.log)" -eq 5 ]
	[ "$(grep -c '"tenant": "org1"' central.log)" -eq 5 ]
	[[ "$stderr" == *"apiservices/gone: HTTP 404 (passed through unresolved)"* ]]
}

@test "Axway: 401 after reading the token again stops with 16; 5xx past --retries with 14" {
	# exit-status: resolve 16
	# exit-status: resolve 14
	start_central --token right
	echo wrong > tok
	central_notify CREATED:/a/b/c > in.bin
	run --separate-stderr resolve --api axway --central "$CENTRAL" \
	    --tenant org1 --token-file tok < in.bin
	[ "$status" -eq 16 ]
	[ "$stderr" = "resolve: GET $CENTRAL/apis/a/b/c: HTTP 401" ]
	[ "$(grep -c '"status": 401' central.log)" -eq 2 ]
	stop_servers
	start_central --fail /a/b/c=100:503
	run --separate-stderr resolve --api axway --central "$CENTRAL" \
	    --tenant org1 --token-file tok --retries 2 < in.bin
	[ "$status" -eq 14 ]
	[ "${#stderr_lines[@]}" -eq 2 ]
	[[ "${stderr_lines[0]}" == "resolve: GET $CENTRAL/apis/a/b/c: HTTP 503; retrying in "*ms ]]
	[ "${stderr_lines[1]}" = "resolve: GET $CENTRAL/apis/a/b/c: HTTP 503" ]
}

@test "Axway: 403 stops with 7, 410 passes marked HTTP_410, an unreachable Central exits 69 after --retries" {
	# exit-status: resolve 0
	# exit-status: resolve 7
	# exit-status: resolve 69
	start_central --tenant org1 --fail /a/b/gone=1:410
	echo tok > tok
	central_notify --ack CREATED:/a/b/c > in.bin
	rr in.bin out.bin --api axway --central "$CENTRAL" --tenant org2 --token-file tok
	[ "$status" -eq 7 ]
	[ "$stderr" = "resolve: GET $CENTRAL/apis/a/b/c: HTTP 403" ]
	[ ! -s out.bin ]
	no_crash stderr.txt
	central_notify --ack UPDATED:/a/b/gone CREATED:/a/b/c > in.bin
	rr in.bin out.bin --api axway --central "$CENTRAL" --tenant org1 --token-file tok
	[ "$status" -eq 0 ]
	[ "$stderr" = "resolve: GET $CENTRAL/apis/a/b/gone: HTTP 410 (passed through unresolved)" ]
	evcat out.bin | pyjson '(e["id"], e.get("evpipeunresolved"), e["evpipeack"])' > got
	diff -u - got <<-'END'
	('e1', 'HTTP_410', 'ack-e1')
	('e2', None, 'ack-e2')
	END
	rr in.bin out.bin --api axway --central http://127.0.0.1:1 --tenant org1 \
	    --token-file tok --retries 2 --parallel 1
	echo "$stderr"
	[ "$status" -eq 69 ]
	[ ! -s out.bin ]
	[[ "$(tail -1 stderr.txt)" == "resolve: GET http://127.0.0.1:1/apis/a/b/gone: Failed to connect to 127.0.0.1 port 1 after "*" ms: Couldn't connect to server" ]]
	no_crash stderr.txt
}

@test "subscribe | resolve | evcat against a fake cluster (queue and event store on one port)" {
	command -v subscribe > /dev/null || skip "subscribe is not built in this tree"
	start_es --events 3 --queue inv1 --queue inv2
	run bash -c 'set -o pipefail
	    subscribe --notification_queue_endpoint="$0" \
	        --queue_name=eventstore/lifecycle-events --count 2 |
	    resolve --endpoint "$0" | tee out.bin | evcat --data=proto > out.jsonl' "$ES"
	echo "$output"
	[ "$status" -eq 0 ]
	run es check --events 3 inv1 inv2 < out.bin
	[ "$output" = "ok 6 events" ]
	sed -n '1p;6p' out.jsonl | sed "s|$ES|ES|" > got
	cat > want <<-'END'
	{"specversion":"1.0","id":"inv1/1","source":"ES","type":"engflow.eventstore.v1.BuildProgressEvent","subject":"inv1","time":"2023-11-14T22:13:20Z","sequence":"00000000000000000001","principal":"alice","data_proto":{"type_url":"type.googleapis.com/engflow.eventstore.v1.BuildProgressEvent","value":"ChAKBmItaW52MRgDMgRpbnYxGhFjb21tYW5kX25hbWU9dGVzdCINCgYIgOLPqgaaAwIIAQ=="}}
	{"specversion":"1.0","id":"inv2/3","source":"ES","type":"engflow.eventstore.v1.BuildProgressEvent","subject":"inv2","time":"2023-11-14T22:13:22.000000002Z","sequence":"00000000000000000003","principal":"alice","evpipeack":"n-inv2","data_proto":{"type_url":"type.googleapis.com/engflow.eventstore.v1.BuildProgressEvent","value":"ChAKBmItaW52MhgDMgRpbnYyIhEKCAiC4s+qBhACogMEGgIIAQ=="}}
	END
	diff -u want got
	# both notifications were acknowledged on the queue
	grep -q '"token": "t-inv1"' es.log
	grep -q '"token": "t-inv2"' es.log
}

@test "Axway: 3-second tokens from a command that takes 0.3 s: renewed in time, never refused" {
	start_central --jwt --tenant org1
	for i in $(seq 40); do
		central_notify "CREATED:/management/v1alpha1/apis/a$i:e$i"
	done > all.bin
	# one event every 0.15 s: the run outlives two tokens
	"$PYTHON3" -c '
import sys, time
data = open(sys.argv[1], "rb").read()
i = 0
while i < len(data):
    n, shift, j = 0, 0, i
    while True:
        b = data[j]; j += 1
        n |= (b & 0x7f) << shift; shift += 7
        if b < 0x80: break
    sys.stdout.buffer.write(data[i:j + n]); sys.stdout.flush()
    i = j + n
    time.sleep(0.15)' all.bin |
	    { resolve --api axway --central "$CENTRAL" --tenant org1 \
		--token-command "echo >> runs; sleep 0.3; $PYTHON3 $PEERS/mkjwt.py 3" \
		> out.bin 2> err; echo $? > status; }
	cat err
	[ "$(cat status)" -eq 0 ]
	# renewed in the background, not once per GET (40)
	echo "token command ran $(wc -l < runs) times"
	[ "$(wc -l < runs)" -le 10 ]
	[ "$(evcat out.bin | grep -c '"type":"com.axway.central.resource"')" -eq 40 ]
	! grep -q '"status": 401' central.log
	! grep -q '"expired": true' central.log
	! grep -q 'HTTP 401\|AddressSanitizer\|runtime error' err
}
