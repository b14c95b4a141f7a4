#!/usr/bin/env bats
# forward against python3-grpcio sinks (tests/peers/*_sink.py): the demo
# Forwarding server, a Build Event Service with faults on purpose, an
# awakari PutBatch store.  Events are made, and what the sinks received
# is checked, with Google's protobuf runtime (tests/peers/build_events.py).

load helpers

setup_file() {
	export FWD_PYOUT=$BATS_FILE_TMPDIR/py
	"$PEERS/gen-forward" "$FWD_PYOUT"
	export PYTHONPATH=$FWD_PYOUT
	# Servers are failed on purpose: do not wait seconds for each retry.
	export EVPIPE_RETRY_INITIAL_MS=50
}

setup() {
	setup_tmp
}

teardown() {
	local pid
	[ -f "$BATS_TEST_TMPDIR/pids" ] || return 0
	while read -r pid; do
		kill -CONT "$pid" 2>/dev/null
		kill "$pid" 2>/dev/null
	done < "$BATS_TEST_TMPDIR/pids"
	wait 2>/dev/null || true
}

# sink NAME SCRIPT [ARGS]: start tests/peers/SCRIPT logging to NAME.log,
# wait until it listens, set PORT (and SINK, its pid).
sink() {
	local name=$1 script=$2 i
	shift 2
	: > "$name.out"
	"$PYTHON3" "$PEERS/$script" --log "$name.log" "$@" \
	    > "$name.out" 2> "$name.err" &
	SINK=$!
	echo "$SINK" >> "$BATS_TEST_TMPDIR/pids"
	for i in $(seq 600); do
		PORT=$(sed -n 's/^port //p' "$name.out")
		[ -n "$PORT" ] && return 0
		kill -0 "$SINK" 2>/dev/null || break
		sleep 0.05
	done
	cat "$name.err" >&2
	return 1
}

# wait_for COMMAND...: until it succeeds, at most 30 s.
wait_for() {
	local i
	for i in $(seq 600); do
		"$@" && return 0
		sleep 0.05
	done
	echo "timed out waiting for: $*" >&2
	return 1
}

events() {
	"$PYTHON3" "$PEERS/build_events.py" "$@"
}

ack() {
	"$PYTHON3" "$PEERS/ack_check.py" "$@"
}

# no_crash: the last `run` ended by itself (no signal) and without a
# sanitizer report (the suite also runs under ASan+UBSan).
no_crash() {
	if [ "$status" -ge 128 ] || [[ "$output" == *Sanitizer* ]] ||
	    [[ "$output" == *"runtime error"* ]]; then
		echo "crashed: status $status" >&2
		echo "$output" >&2
		return 1
	fi
}

# lines FILE PATTERN: how many lines of FILE match.
lines_matching() {
	grep -c -- "$2" "$1" 2>/dev/null || true
}

# at_least N FILE PATTERN
at_least() {
	[ "$(lines_matching "$2" "$3")" -ge "$1" ]
}

# The peak RSS (KiB) of a command run with this shell's stdin, on fd 3.
peak_rss() {
	"$PYTHON3" -c '
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=open(3, "w"))
sys.exit(r.returncode)' "$@"
}

# ---- the command line -------------------------------------------------

@test "usage errors exit 64 and say what is wrong" {
	run forward
	[ "$status" -eq 64 ] && [[ "${lines[0]}" == "forward: no server: give --to URL (or --dry-run)" ]]
	run forward --to grpc://127.0.0.1:1 --protocol carrier-pigeon
	[ "$status" -eq 64 ] && [[ "$output" == *"demo, bes, store or unary"* ]]
	run forward --to grpc://127.0.0.1:1 --protocol unary
	[ "$status" -eq 64 ] && [[ "$output" == *"needs --method"* ]]
	run forward --to grpc://127.0.0.1:1 -p unary --method Svc/M
	[ "$status" -eq 64 ] && [[ "$output" == *"/package.Service/Method"* ]]
	run forward --to grpc://127.0.0.1:1 --batch 5
	[ "$status" -eq 64 ] && [[ "$output" == *"for --protocol store"* ]]
	run forward --to grpc://127.0.0.1:1 -p bes --linger 1h
	[ "$status" -eq 64 ]
	run forward --to grpc://127.0.0.1:1 -p store --linger soon
	[ "$status" -eq 64 ] && [[ "$output" == *"not a duration"* ]]
	run forward --to grpc://127.0.0.1:1 --header 'x-a'
	[ "$status" -eq 64 ] && [[ "$output" == *"not NAME=VALUE"* ]]
	run forward --to grpc://127.0.0.1:1 --header 'grpc-timeout=1S'
	[ "$status" -eq 64 ] && [[ "$output" == *"set by the transport"* ]]
	run forward --to http://127.0.0.1:1
	[ "$status" -eq 64 ]
	run forward -n --tee
	[ "$status" -eq 64 ]
	run forward --to grpc://127.0.0.1:1 --window 0
	[ "$status" -eq 64 ]
	run forward --to grpc://127.0.0.1:1 --token-env NO_SUCH_VARIABLE_HERE
	[ "$status" -eq 64 ]
	run forward --bogus
	[ "$status" -eq 64 ] && [[ "$output" == *"unknown option --bogus"* ]]
}

@test "--dry-run prints the requests in text format and sends nothing" {
	evcat -e "$DATA/man/events.jsonl" | forward -n > out.txt
	cat > want.txt <<-'END'
	# /com.engflow.notificationqueue.demoserver.Forwarding/ForwardStream
	id: "1"
	payload: "{\"greeting\":\"hello\"}"
	# /com.engflow.notificationqueue.demoserver.Forwarding/ForwardStream
	id: "2"
	payload: "id: \"2\"\nsource: \"/demo\"\nspec_version: \"1.0\"\ntype: \"demo.bytes\"\nbinary_data: \"\\000\\001\\002\"\n"
	END
	diff -u want.txt out.txt
	evcat -e "$DATA/man/events.jsonl" | forward -n -p unary \
	    --method /x.Y/Z --whole > whole.txt
	grep -q '^binary_data: "\\000\\001\\002"$' whole.txt
}

# ---- demo ---------------------------------------------------------------

@test "demo: every event arrives once, its payload what Python's text_format prints" {
	events make-mixed > mixed.bin
	events make --invocations 3 --events 40 --interleave > build.bin
	cat mixed.bin build.bin > all.bin
	sink demo demo_sink.py
	run forward --forward=grpc://127.0.0.1:$PORT < all.bin
	echo "$output"
	[ "$status" -eq 0 ] && [ -z "$output" ]
	run events check-demo all.bin demo.log
	echo "$output"
	[ "$status" -eq 0 ] && [ "$output" = "129 events, 0 errors" ]
}

@test "demo: UNAVAILABLE is retried with backoff until every event is delivered" {
	events make --invocations 2 --events 30 > ev.bin
	sink demo demo_sink.py --fail-first 5 --fail-every 7
	run forward -v --to grpc://127.0.0.1:$PORT --window 4 < ev.bin
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"UNAVAILABLE: failing call"*"retrying in"* ]]
	run events check-demo ev.bin demo.log
	[ "$status" -eq 0 ]
	[ "$(lines_matching demo.log '"failed"')" -ge 5 ]
}

@test "demo: a final status stops forward with it; the rest goes to --dead-letter" {
	evcat -e "$DATA/man/events.jsonl" > ev.bin
	sink demo demo_sink.py --fail-first 1000 --code PERMISSION_DENIED
	run forward --to grpc://127.0.0.1:$PORT --dead-letter dead.bin < ev.bin
	echo "$output"
	[ "$status" -eq 7 ]
	[[ "${lines[0]}" == "forward: grpc://127.0.0.1:$PORT: /com.engflow.notificationqueue.demoserver.Forwarding/ForwardStream: PERMISSION_DENIED: failing call "* ]]
	[ "${lines[1]}" = "forward: 2 events not delivered, written to dead.bin" ]
	cmp ev.bin dead.bin
}

@test "a server that cannot be reached: exit 69 after --retries, events kept" {
	evcat -e "$DATA/man/events.jsonl" > ev.bin
	printf 'earlier\n' > dead.bin
	run forward --to "unix:$BATS_TEST_TMPDIR/nobody.sock" --retries 3 \
	    --dead-letter dead.bin < ev.bin
	echo "$output"
	[ "$status" -eq 69 ]
	# appended, never truncated
	[ "$(head -1 dead.bin)" = earlier ]
	tail -c +9 dead.bin | cmp - ev.bin
}

@test "demo: --header and the token reach the server; no auth headers without a token" {
	evcat -e "$DATA/man/events.jsonl" > ev.bin
	sink demo demo_sink.py
	printf 'tok-123\n' > token
	forward --to grpc://127.0.0.1:$PORT -H X-Team=build --token-file token < ev.bin
	grep -q '\["x-team", "build"\]' demo.log
	grep -q '\["x-engflow-auth-method", "jwt-v0"\], \["x-engflow-auth-token", "tok-123"\]' demo.log
	: > demo.log
	TOK=tok-456 forward --to grpc://127.0.0.1:$PORT --token-env TOK --auth-header bearer < ev.bin
	grep -q '\["authorization", "Bearer tok-456"\]' demo.log
	! grep -q 'x-engflow' demo.log
	: > demo.log
	forward --to grpc://127.0.0.1:$PORT < ev.bin
	! grep -q 'x-engflow\|authorization' demo.log
}

@test "grpcs:// checks the server's certificate (--cacert), or not (--insecure)" {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
	    -keyout key.pem -out cert.pem 2> /dev/null
	evcat -e "$DATA/man/events.jsonl" > ev.bin
	sink demo demo_sink.py --tls cert.pem key.pem
	forward --to grpcs://127.0.0.1:$PORT --cacert cert.pem < ev.bin
	[ "$(lines_matching demo.log '"payload"')" -eq 2 ]
	# not trusted: the server is never reached
	run forward --to grpcs://127.0.0.1:$PORT --retries 1 < ev.bin
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "$output" == *"TLS handshake: self-signed certificate"* ]]
	run forward --to grpcs://127.0.0.1:$PORT --insecure < ev.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"--insecure"* ]]
	[ "$(lines_matching demo.log '"payload"')" -eq 4 ]
}

@test "unary --method: the proto_data value is the request" {
	"$PYTHON3" - > ev.bin <<-'END'
	import sys
	from google.protobuf.internal.encoder import _VarintBytes
	import cloudevent_pb2
	from com.engflow.notificationqueue.demoserver import server_pb2
	for i in range(20):
	    ev = cloudevent_pb2.CloudEvent(id=str(i), source="/u", spec_version="1.0", type="t")
	    ev.proto_data.Pack(server_pb2.EngFlowRequest(id="r%d" % i, payload="p\u00e9%d" % i))
	    b = ev.SerializeToString()
	    sys.stdout.buffer.write(_VarintBytes(len(b)) + b)
	END
	sink demo demo_sink.py
	forward -p unary --to grpc://127.0.0.1:$PORT \
	    --method /com.engflow.notificationqueue.demoserver.Forwarding/ForwardStream < ev.bin
	for i in $(seq 0 19); do
		grep -q "\"id\": \"r$i\", .*\"payload\": \"p\\\\u00e9$i\"" demo.log ||
		    grep -q "\"id\": \"r$i\", .*\"payload\": \"pé$i\"" demo.log
	done
	[ "$(lines_matching demo.log '"payload"')" -eq 20 ]
	# an event without protobuf or binary data cannot be a request:
	# nothing to deliver; passed over, or with --unsendable fail, bad input
	evcat -e "$DATA/man/events.jsonl" > text.bin
	run forward -v -n -p unary --method /a.B/C < text.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"forward: record 1: event 1 has no protobuf or binary data: nothing to deliver; passed over"* ]]
	[ "$(grep -c '^# /a.B/C$' <<< "$output")" -eq 1 ]
	run forward -p unary --to grpc://127.0.0.1:$PORT --method /a.B/C \
	    --unsendable fail < text.bin
	[ "$status" -eq 65 ]
	[ "$output" = "forward: stdin: record 1 at byte 0: event 1 has no protobuf or binary data" ]
}

# ---- BES ----------------------------------------------------------------

@test "bes: streams numbered from 1, pipelined, acked in order, half-closed" {
	events make --invocations 4 --events 60 --interleave --ack > ev.bin
	sink bes bes_sink.py
	: > acks.txt	# a regular file: ackfifo appends to it
	run forward -p bes --to grpc://127.0.0.1:$PORT --project-id proj \
	    --acked-to acks.txt < ev.bin
	echo "$output"
	[ "$status" -eq 0 ]
	run events check-bes ev.bin bes.log
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "4 streams, 240 events committed, 0 resent, 0 lifecycle, 0 errors" ]
	[ "$(lines_matching bes.log '"half_close"')" -eq 4 ]
	[ "$(lines_matching bes.log '"project_id": "proj"')" -eq 240 ]
	[ "$(sort acks.txt | uniq | wc -l)" -eq 240 ]
	# one call per stream: nothing waited for an ack before sending more
	[ "$(lines_matching bes.log '"metadata"')" -eq 4 ]
}

@test "bes: a sink that drops the stream every 37 events gets every event, in order" {
	events make --invocations 3 --events 100 --interleave > ev.bin
	sink bes bes_sink.py --drop-every 37
	run forward -v -p bes --to grpc://127.0.0.1:$PORT < ev.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"resending"* ]]
	run events check-bes ev.bin bes.log
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "3 streams, 300 events committed, "*" 0 errors" ]]
	[[ "$output" != *" 0 resent"* ]]
}

@test "bes: acks out of order stop forward with FAILED_PRECONDITION, as Bazel does" {
	events make --invocations 1 --events 20 > ev.bin
	sink bes bes_sink.py --ack-out-of-order
	run forward -p bes --to grpc://127.0.0.1:$PORT --dead-letter dead.bin < ev.bin
	echo "$output"
	[ "$status" -eq 9 ]
	[ "${lines[0]}" = "forward: stream build-0/inv-0000/TOOL: expected ACK with seqNum=1 but received ACK with seqNum=2" ]
	[ "$(evcat dead.bin | wc -l)" -eq 20 ]
}

@test "bes: a server that never ends the call after the half-close" {
	events make --invocations 2 --events 10 > ev.bin
	sink bes bes_sink.py --hang
	run forward -p bes --to grpc://127.0.0.1:$PORT --timeout 300ms < ev.bin
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "forward: stream build-0/inv-000"[01]"/TOOL: status DEADLINE_EXCEEDED after every event was acked" ]]
	run events check-bes ev.bin bes.log
	[ "$status" -eq 0 ]
}

@test "bes: the sink restarts 10 times; every event arrives, in order" {
	events make --invocations 4 --events 500 --interleave --ack > ev.bin
	sock=$BATS_TEST_TMPDIR/bes.sock
	sink bes bes_sink.py --unix "$sock" --delay-ms 1
	: > acks.txt	# a regular file: ackfifo appends to it
	forward -p bes --to "unix:$sock" --acked-to acks.txt < ev.bin 2> fwd.err &
	fwd=$!
	echo "$fwd" >> pids
	for round in $(seq 10); do
		want=$((round * 150))
		wait_for at_least "$want" bes.log '"commit"'
		kill -9 "$SINK"
		wait "$SINK" 2>/dev/null || true
		sink bes bes_sink.py --unix "$sock" --delay-ms 1
	done
	wait "$fwd"
	run events check-bes ev.bin bes.log
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "4 streams, 2000 events committed, "*" 0 errors" ]]
	[ "$(sort -u acks.txt | wc -l)" -eq 2000 ]
}

@test "bes: --lifecycle publishes lifecycle events in build order around the tool streams" {
	events make --invocations 4 --events 30 --lifecycle --interleave > ev.bin
	sink bes bes_sink.py
	run forward -p bes --lifecycle --to grpc://127.0.0.1:$PORT < ev.bin
	echo "$output"
	[ "$status" -eq 0 ]
	run events check-bes ev.bin bes.log
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "4 streams, 120 events committed, 0 resent, 12 lifecycle, 0 errors" ]
	# BuildEnqueued and BuildFinished number the build's stream 1, 2
	grep -q '"lifecycle": "build_enqueued", "lifecycle_stream": \["build-0", "", 1\].*"seq": 1' bes.log
	grep -q '"lifecycle": "build_finished", "lifecycle_stream": \["build-0", "", 1\].*"seq": 2' bes.log
	grep '"lifecycle": "invocation_attempt_started"' bes.log |
	    grep -q '"service_level": 1'
}

@test "bes: without --lifecycle lifecycle events are not sent, yet acknowledged" {
	events make --invocations 2 --events 10 --lifecycle --ack --streamed > ev.bin
	sink bes bes_sink.py
	: > acks.txt	# a regular file: ackfifo appends to it
	forward -p bes --to grpc://127.0.0.1:$PORT --acked-to acks.txt \
	    --tee < ev.bin > tee.bin
	run events check-bes ev.bin bes.log
	[ "$output" = "2 streams, 20 events committed, 0 resent, 0 lifecycle, 0 errors" ]
	[ "$(wc -l < acks.txt)" -eq 26 ]
	[ "$(evcat tee.bin | wc -l)" -eq 26 ]
	! grep -q '"lifecycle"' bes.log
}

@test "bes: an event that is not a build event is passed over; one that does not parse: exit 65" {
	events make --invocations 2 --events 4 --interleave > ev.bin
	evcat -e "$DATA/man/events.jsonl" > text.bin
	# records 1-5 build events, 6-7 text, 8-10 build events
	head -c "$(events offset ev.bin 5)" ev.bin > a.bin
	tail -c +"$(($(events offset ev.bin 5) + 1))" ev.bin > b.bin
	cat a.bin text.bin b.bin > ev.bin
	sink bes bes_sink.py
	forward -v -p bes --to grpc://127.0.0.1:$PORT --tee < ev.bin > tee.bin 2> err
	cat err
	# passed over: on to --tee like the rest, in input order
	cmp ev.bin tee.bin
	grep -q '^forward: record 6: event 1 has no protobuf data: nothing to deliver; passed over$' err
	grep -q '^forward: 2 events with nothing to deliver for --protocol bes passed over$' err
	[ "$(lines_matching bes.log '"commit"')" -eq 8 ]
	# --unsendable fail: the old strictness
	sink bes2 bes_sink.py
	run forward -p bes --to grpc://127.0.0.1:$PORT --unsendable fail < ev.bin
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == "forward: stdin: record 6 at byte "*": event 1 has no protobuf data" ]]
	[ "$(lines_matching bes2.log '"commit"')" -eq 5 ]
	# a build event whose bytes do not parse is bad input whatever the option
	"$PYTHON3" - > bad.bin <<-'END'
	import sys
	from google.protobuf.internal.encoder import _VarintBytes
	import cloudevent_pb2
	ev = cloudevent_pb2.CloudEvent(id="x", source="/s", spec_version="1.0", type="t")
	ev.proto_data.type_url = "type.googleapis.com/engflow.eventstore.v1.BuildProgressEvent"
	ev.proto_data.value = b"\x0a\x05ab"
	b = ev.SerializeToString()
	sys.stdout.buffer.write(_VarintBytes(len(b)) + b)
	END
	sink bes3 bes_sink.py
	cat ev.bin bad.bin > all.bin
	run forward -p bes --to grpc://127.0.0.1:$PORT < all.bin
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"record 11 at byte "*"BuildProgressEvent does not parse" ]]
	[ "$(lines_matching bes3.log '"commit"')" -eq 8 ]
}

# ---- store -------------------------------------------------------------

# stored_once LOG N: N events stored, each id once.
stored_once() {
	"$PYTHON3" - "$1" "$2" <<-'END'
	import json, sys
	ids = [json.loads(l).get("stored") for l in open(sys.argv[1])]
	ids = [i for i in ids if i]
	assert len(ids) == len(set(ids)) == int(sys.argv[2]), (len(ids), len(set(ids)))
	END
}

@test "store: PutBatch in batches; a partial prefix accepted sends the tail again" {
	events make --invocations 2 --events 150 > ev.bin
	sink store store_sink.py --accept-max 7
	run forward -p store --batch 20 --to grpc://127.0.0.1:$PORT --tee < ev.bin
	[ "$status" -eq 0 ]
	stored_once store.log 300
	# no batch above --batch, and the tails went out again
	"$PYTHON3" - store.log <<-'END'
	import json, sys
	b = [json.loads(l) for l in open(sys.argv[1]) if '"batch"' in l]
	assert max(r["batch"] for r in b) == 20
	assert any(r["batch"] == 13 for r in b)
	END
	# --tee: exactly the input, each once
	[ "$(printf '%s' "$output" | wc -c)" -eq "$(wc -c < ev.bin)" ]
}

@test "store: a busy server (ackCount 0) and lost replies: every event stored once" {
	events make --invocations 2 --events 100 > ev.bin
	sink store store_sink.py --busy-every 3
	forward -p store --batch 15 --to grpc://127.0.0.1:$PORT < ev.bin
	stored_once store.log 200
	grep -q '"acked": 0' store.log
	sink store2 store_sink.py --fail-every 4
	forward -p store --batch 15 --to grpc://127.0.0.1:$PORT < ev.bin
	stored_once store2.log 200
	grep -q '"duplicate"' store2.log
}

@test "store: --linger sends a batch that is not full while stdin stays open" {
	events make --invocations 1 --events 3 > ev.bin
	sink store store_sink.py
	mkfifo in
	forward -p store --batch 100 --linger 100ms --to grpc://127.0.0.1:$PORT < in &
	echo $! >> pids
	fwd=$!
	exec 8> in
	cat ev.bin >&8
	wait_for at_least 3 store.log '"stored"'
	exec 8>&-
	wait "$fwd"
	grep -q '"batch": 3' store.log
}

# ---- delivery --------------------------------------------------------------

@test "--tee writes each event once acknowledged; --acked-to its evpipeack" {
	events make --invocations 2 --events 50 --ack > ev.bin
	sink demo demo_sink.py
	: > acks.txt	# a regular file: ackfifo appends to it
	forward --to grpc://127.0.0.1:$PORT --tee --acked-to acks.txt < ev.bin > tee.bin
	evcat ev.bin | sort > want.jsonl
	evcat tee.bin | sort | diff -u want.jsonl -
	evcat ev.bin | sed 's/.*"evpipeack":"\([^"]*\)".*/\1/' | sort > want.acks
	sort acks.txt | diff -u want.acks -
}

@test "a truncated record: exit 65 after delivering every event before it" {
	events make --invocations 1 --events 10 > ev.bin
	head -c $(($(wc -c < ev.bin) - 3)) ev.bin > cut.bin
	sink demo demo_sink.py
	run forward --to grpc://127.0.0.1:$PORT < cut.bin
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == "forward: stdin: record 10 at byte "*"truncated record"* ]]
	[ "$(lines_matching demo.log '"payload"')" -eq 9 ]
}

@test "SIGTERM: stop reading, deliver what is in flight, exit 0" {
	events make --invocations 1 --events 40 > ev.bin
	sink demo demo_sink.py --delay-ms 100 --workers 1
	mkfifo in
	forward -v --to grpc://127.0.0.1:$PORT --window 5 --tee < in > tee.bin 2> err &
	fwd=$!
	echo $fwd >> pids
	exec 8> in
	cat ev.bin >&8
	wait_for at_least 2 demo.log '"payload"'
	kill -TERM $fwd
	st=0
	wait $fwd || st=$?
	exec 8>&-
	cat err
	[ "$st" -eq 0 ]
	grep -q "signal 15: delivering" err
	# everything it took was delivered, and it took no more than its window
	n=$(evcat tee.bin | wc -l)
	[ "$(lines_matching demo.log '"payload"')" -eq "$n" ]
	[ "$n" -ge 2 ] && [ "$n" -lt 40 ]
}

@test "SIGTERM with --drain-timeout: what is not delivered by then goes to --dead-letter" {
	events make --invocations 1 --events 10 > ev.bin
	sink demo demo_sink.py --delay-ms 30000 --workers 1
	mkfifo in
	forward --to grpc://127.0.0.1:$PORT --window 3 --drain-timeout 200ms \
	    --dead-letter dead.bin < in 2> err &
	fwd=$!
	echo $fwd >> pids
	exec 8> in
	cat ev.bin >&8
	wait_for at_least 1 demo.log '"received"'
	kill -TERM $fwd
	st=0
	wait $fwd || st=$?
	exec 8>&-
	cat err
	[ "$st" -eq 4 ]
	grep -q "drain timeout: 3 events not delivered" err
	[ "$(evcat dead.bin | wc -l)" -eq 3 ]
}

@test "slow sink: stdin is read no faster than the sink takes events" {
	# 64 KiB events: the pipe and forward's buffer hold few of them
	events make --invocations 1 --events 80 --size 65536 > ev.bin
	sink demo demo_sink.py --delay-ms 40 --workers 1
	"$PYTHON3" - ev.bin written <<-'END' | forward --to grpc://127.0.0.1:$PORT --window 4 &
	import os, sys
	from google.protobuf.internal.decoder import _DecodeVarint
	data = open(sys.argv[1], "rb").read()
	out, pos, n = sys.stdout.buffer, 0, 0
	while pos < len(data):
	    size, start = _DecodeVarint(data, pos)
	    try:
	        out.write(data[pos:start + size]); out.flush()
	    except BrokenPipeError:
	        sys.exit(0)
	    pos, n = start + size, n + 1
	    open(sys.argv[2] + ".new", "w").write("%d\n" % n)
	    os.rename(sys.argv[2] + ".new", sys.argv[2])
	END
	echo $! >> pids
	wait_for at_least 30 demo.log '"payload"'
	delivered=$(lines_matching demo.log '"payload"')
	written=$(cat written)
	echo "delivered $delivered written $written"
	# window 4, plus what the pipe (64 KiB) and forward's read buffer hold
	[ "$written" -le $((delivered + 4 + 8)) ]
	wait_for at_least 80 demo.log '"payload"'
}

@test "RSS stays bounded whatever the stream length" {
	[ -z "$EVPIPE_SANITIZERS" ] || skip "RSS is measured on the plain build"
	events make --invocations 2 --events 400 --size 65536 --interleave > ev.bin
	sink bes bes_sink.py
	peak_rss forward -p bes --to grpc://127.0.0.1:$PORT --window 64 < ev.bin 3> rss
	echo "input $(($(wc -c < ev.bin) / 1024)) KiB, peak RSS $(cat rss) KiB"
	# 50 MiB in; a window of 64 events of 64 KiB, twice (record and request)
	[ "$(cat rss)" -lt 24000 ]
	run events check-bes ev.bin bes.log
	[ "$status" -eq 0 ]
}

@test "stdout closed early with --tee: a quiet stop; a full disk: exit 74" {
	events make --invocations 1 --events 200 > ev.bin
	sink demo demo_sink.py
	run bash -c "forward --to grpc://127.0.0.1:$PORT --tee < ev.bin | head -c1 > /dev/null"
	[ "$status" -eq 0 ] && [ -z "$output" ]
	run bash -c "forward --to grpc://127.0.0.1:$PORT --tee < ev.bin > /dev/full"
	[ "$status" -eq 74 ]
	[[ "$output" == *"stdout: No space left on device"* ]]
}

# ---- acknowledgement: never ahead of the window (evpipe(7)) -----------

@test "acks wait for every earlier event: demo, the first reply held" {
	ack make 300 > ev.bin
	sink demo demo_sink.py --hold e1=gate
	: > acks.txt
	forward --to grpc://127.0.0.1:$PORT --acked-to acks.txt --tee \
	    < ev.bin > tee.bin &
	fwd=$!
	echo "$fwd" >> pids
	# the rest of the window is delivered meanwhile, out of order ...
	wait_for at_least 90 demo.log '"payload"'
	grep -q '"received": "e1"' demo.log
	! grep -q '"id": "e1"' demo.log
	# ... yet nothing is acknowledged or passed on: e1 is not delivered
	[ ! -s acks.txt ] && [ ! -s tee.bin ]
	touch gate
	wait "$fwd"
	run ack check ev.bin acks.txt demo.log demo --all
	echo "$output"
	[ "$status" -eq 0 ]
	cmp ev.bin tee.bin
}

@test "acks wait for every earlier event: bes without --lifecycle, a stream's acks held" {
	events make --invocations 3 --events 40 --lifecycle --interleave --ack > ev.bin
	sink bes bes_sink.py --hold inv-0001=gate
	: > acks.txt
	forward -p bes --to grpc://127.0.0.1:$PORT --acked-to acks.txt --tee \
	    < ev.bin > tee.bin &
	fwd=$!
	echo "$fwd" >> pids
	wait_for at_least 50 bes.log '"commit"'
	# records 1-4 are lifecycle events, passed over at once; record 5
	# is inv-0001's first tool event: the lifecycle events and the
	# other streams' events after it wait for it
	evcat ev.bin | head -4 | sed 's/.*"evpipeack":"\([^"]*\)".*/\1/' > want.txt
	diff -u want.txt acks.txt
	head -c "$(events offset ev.bin 4)" ev.bin | cmp - tee.bin
	touch gate
	wait "$fwd"
	run ack check ev.bin acks.txt bes.log bes --all
	echo "$output"
	[ "$status" -eq 0 ]
	cmp ev.bin tee.bin
}

@test "acks wait for every earlier event: store, the first batch held" {
	ack make 400 > ev.bin
	sink store store_sink.py --hold e1=gate
	: > acks.txt
	forward -p store --batch 20 --to grpc://127.0.0.1:$PORT \
	    --acked-to acks.txt < ev.bin &
	fwd=$!
	echo "$fwd" >> pids
	wait_for at_least 60 store.log '"stored"'
	[ ! -s acks.txt ]
	touch gate
	wait "$fwd"
	run ack check ev.bin acks.txt store.log store --all
	echo "$output"
	[ "$status" -eq 0 ]
}

# kill9 KIND: forward (its arguments after --) killed with SIGKILL
# once 150 acks are out; what it acknowledged, the sink has, in order.
kill9() {
	local kind=$1 fwd
	shift
	: > acks.txt
	forward --acked-to acks.txt "$@" < ev.bin 2> fwd.err &
	fwd=$!
	echo "$fwd" >> pids
	wait_for at_least 150 acks.txt .
	kill -9 "$fwd"
	wait "$fwd" 2>/dev/null || true
	run ack check ev.bin acks.txt "$kind.log" "$kind"
	echo "$kind: $output"
	[ "$status" -eq 0 ]
	# killed mid-run, not after the end
	[ "$(wc -l < acks.txt)" -lt "$(evcat ev.bin | wc -l)" ]
}

@test "SIGKILL after the first acks: nothing acked whose predecessors the sink did not get" {
	ack make 4000 > ev.bin
	sink demo demo_sink.py --jitter-ms 30 --seed 7
	kill9 demo --to grpc://127.0.0.1:$PORT
	sink store store_sink.py --jitter-ms 30 --seed 7
	kill9 store -p store --batch 5 --to grpc://127.0.0.1:$PORT
	events make --invocations 4 --events 800 --lifecycle --interleave --ack > ev.bin
	sink bes bes_sink.py --jitter-ms 4 --seed 7
	kill9 bes -p bes --to grpc://127.0.0.1:$PORT
}

# ---- a final failure: every event accounted for -------------------------

@test "a final failure: the window and the rest of stdin go to --dead-letter, then are acked" {
	ack make 1000 > ev.bin
	seq -f 'a%g' 1000 > want.acks
	for to in grpc://127.0.0.1:1 "unix:$BATS_TEST_TMPDIR/nobody.sock"; do
		rm -f dead.bin
		: > acks.txt
		run forward --to "$to" --retries 1 --dead-letter dead.bin \
		    --acked-to acks.txt < ev.bin
		echo "$output"
		[ "$status" -eq 69 ]
		[ "${#lines[@]}" -eq 2 ]
		[ "${lines[1]}" = "forward: 1000 events not delivered, written to dead.bin" ]
		cmp ev.bin dead.bin
		# saved (synced) before they were acknowledged, in input order
		diff -u want.acks acks.txt
	done
	# from a pipe as well: read to its end
	rm -f dead.bin
	run bash -c "cat ev.bin | forward --to grpc://127.0.0.1:1 --retries 1 --dead-letter dead.bin"
	[ "$status" -eq 69 ]
	[ "${lines[1]}" = "forward: 1000 events not delivered, written to dead.bin" ]
	cmp ev.bin dead.bin
	# and the file is a safe replay
	sink demo demo_sink.py
	: > acks.txt
	forward --to grpc://127.0.0.1:$PORT --dead-letter dead2.bin \
	    --acked-to acks.txt < dead.bin
	run ack check ev.bin acks.txt demo.log demo --all
	[ "$status" -eq 0 ]
	[ ! -e dead2.bin ] || [ ! -s dead2.bin ]
}

@test "a final failure without --dead-letter: how many were not delivered, where stdin was left" {
	ack make 1000 > ev.bin
	: > acks.txt
	run forward --to grpc://127.0.0.1:1 --retries 1 --acked-to acks.txt < ev.bin
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "${lines[1]}" =~ ^forward:\ ([0-9]+)\ events?\ not\ delivered,\ and\ ([0-9]+)\ left\ unread\ on\ stdin\ from\ record\ ([0-9]+)$ ]]
	n=${BASH_REMATCH[1]} left=${BASH_REMATCH[2]} from=${BASH_REMATCH[3]}
	[ $((n + left)) -eq 1000 ] && [ "$from" -eq $((n + 1)) ] && [ "$n" -le 100 ]
	[ ! -s acks.txt ]
	run bash -c "cat ev.bin | forward --to grpc://127.0.0.1:1 --retries 1"
	echo "$output"
	[ "$status" -eq 69 ]
	[[ "${lines[1]}" =~ ^forward:\ ([0-9]+)\ events?\ not\ delivered\;\ stdin\ left\ unread\ from\ record\ ([0-9]+)$ ]]
	[ "${BASH_REMATCH[2]}" -eq $((BASH_REMATCH[1] + 1)) ]
}

@test "a final failure after --retries against sinks that fail every call: all of it in --dead-letter" {
	ack make 300 > ev.bin
	sink demo demo_sink.py --fail-first 1000000
	run forward --to grpc://127.0.0.1:$PORT --retries 2 --dead-letter dead.bin < ev.bin
	echo "$output"
	[ "$status" -eq 14 ]
	[ "${lines[-1]}" = "forward: 300 events not delivered, written to dead.bin" ]
	cmp ev.bin dead.bin
	sink store store_sink.py --fail-every 1
	rm dead.bin
	run forward -p store --batch 7 --to grpc://127.0.0.1:$PORT --retries 2 \
	    --dead-letter dead.bin < ev.bin
	echo "$output"
	[ "$status" -eq 14 ]
	[ "${lines[-1]}" = "forward: 300 events not delivered, written to dead.bin" ]
	cmp ev.bin dead.bin
	events make --invocations 2 --events 150 --interleave > ev.bin
	sink bes bes_sink.py --drop-every 1
	rm dead.bin
	run forward -p bes --to grpc://127.0.0.1:$PORT --retries 2 \
	    --dead-letter dead.bin < ev.bin
	echo "$output"
	[ "$status" -eq 14 ]
	[ "${lines[-1]}" = "forward: 300 events not delivered, written to dead.bin" ]
	cmp ev.bin dead.bin
}

# ---- notifications: nothing to deliver (bes), sent as EngFlow does (demo)

@test "bes: notifications passed on unresolved are passed over and acked in order, or saved" {
	events make --invocations 4 --events 20 --interleave --ack \
	    --notifications unresolved > ev.bin
	sink bes bes_sink.py
	: > acks.txt
	run forward -v -p bes --to grpc://127.0.0.1:$PORT --acked-to acks.txt < ev.bin
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"forward: record 1: event note-0-started has no protobuf data"* ]] ||
	    [[ "$output" == *"forward: record 1: type.googleapis.com/engflow.notification.v1.Notification is not a build event: nothing to deliver; passed over"* ]]
	[[ "$output" == *"forward: 80 events delivered in "* ]]
	[[ "$output" == *"forward: 8 events with nothing to deliver for --protocol bes passed over"* ]]
	[ "$(lines_matching bes.log '"commit"')" -eq 80 ]
	run ack check ev.bin acks.txt bes.log bes --all
	echo "$output"
	[ "$status" -eq 0 ]
	# --unsendable dead-letter: saved instead, and acknowledged once saved
	sink bes2 bes_sink.py
	: > acks.txt
	forward -p bes --to grpc://127.0.0.1:$PORT --acked-to acks.txt \
	    --unsendable dead-letter --dead-letter dead.bin < ev.bin
	run ack check ev.bin acks.txt bes2.log bes --all
	[ "$status" -eq 0 ]
	[ "$(evcat dead.bin | grep -c '"type":"engflow.eventstore.v1.BuildLifecycleEventNotification.Invocation')" -eq 8 ]
	[ "$(evcat dead.bin | wc -l)" -eq 8 ]
	# --unsendable fail: the first one is bad input
	run forward -p bes --to grpc://127.0.0.1:$PORT --unsendable fail < ev.bin
	[ "$status" -eq 65 ]
	[[ "$output" == "forward: stdin: record 1 at byte 0: type.googleapis.com/engflow.notification.v1.Notification is not a build event" ]]
	run forward -p bes --to grpc://127.0.0.1:1 --unsendable dead-letter
	[ "$status" -eq 64 ]
	[[ "$output" == *"--unsendable dead-letter needs --dead-letter"* ]]
	run forward -p store --to grpc://127.0.0.1:1 --unsendable skip
	[ "$status" -eq 64 ]
}

@test "demo: a notification passed ahead of its events is sent as EngFlow's client sends it; its ack waits for both" {
	events make --invocations 3 --events 10 --interleave --ack \
	    --notifications ahead > ev.bin
	sink demo demo_sink.py --hold note-1-finished=gate
	: > acks.txt
	forward --to grpc://127.0.0.1:$PORT --acked-to acks.txt < ev.bin &
	fwd=$!
	echo "$fwd" >> pids
	# every request but the held notification (record 2)
	wait_for at_least 32 demo.log '"payload"'
	[ ! -s acks.txt ]
	touch gate
	wait "$fwd"
	run events check-demo ev.bin demo.log
	echo "$output"
	[ "$status" -eq 0 ] && [ "$output" = "33 events, 0 errors" ]
	grep -q '"id": "note-1-finished", .*"payload": "\[type.googleapis.com/engflow.eventstore.v1.BuildLifecycleEventNotification\] {\\n  instance_name: \\"default\\"' demo.log
	run ack check ev.bin acks.txt demo.log demo --all
	echo "$output"
	[ "$status" -eq 0 ] && [ "$output" = "3 of 3 acks, 0 errors" ]
}

# ---- every exit status of forward(1), by a real failure ------------------

@test "exit statuses 1-16: the sink answering each failing status" {
	# exit-status: forward 1
	# exit-status: forward 2
	# exit-status: forward 3
	# exit-status: forward 4
	# exit-status: forward 5
	# exit-status: forward 6
	# exit-status: forward 7
	# exit-status: forward 8
	# exit-status: forward 9
	# exit-status: forward 10
	# exit-status: forward 11
	# exit-status: forward 12
	# exit-status: forward 13
	# exit-status: forward 14
	# exit-status: forward 15
	# exit-status: forward 16
	sink demo demo_sink.py --fail-by-id
	# the retried ones (2, 4, 8, 10, 13, 14) once --retries is used up
	for pair in CANCELLED:1 UNKNOWN:2 INVALID_ARGUMENT:3 \
	    DEADLINE_EXCEEDED:4 NOT_FOUND:5 ALREADY_EXISTS:6 \
	    PERMISSION_DENIED:7 RESOURCE_EXHAUSTED:8 FAILED_PRECONDITION:9 \
	    ABORTED:10 OUT_OF_RANGE:11 UNIMPLEMENTED:12 INTERNAL:13 \
	    UNAVAILABLE:14 DATA_LOSS:15 UNAUTHENTICATED:16; do
		code=${pair%:*} want=${pair#*:}
		printf '{"specversion":"1.0","id":"%s","source":"/s","type":"t","data":"x"}\n' \
		    "$code" | evcat -e > ev.bin
		run forward --to grpc://127.0.0.1:$PORT --retries 1 \
		    --dead-letter "dead-$code.bin" < ev.bin
		echo "$code: $status $output"
		no_crash
		[ "$status" -eq "$want" ]
		[[ "${lines[0]}" == "forward: grpc://127.0.0.1:$PORT: /com.engflow.notificationqueue.demoserver.Forwarding/ForwardStream: $code: failing with $code by its id" ]]
		cmp ev.bin "dead-$code.bin"
	done
	# DEADLINE_EXCEEDED of our own --timeout
	ack make 1 > ev.bin
	"$PYTHON3" "$PEERS/demo_sink.py" --hold e1=never --log slow.log > slow.out 2>&1 &
	echo $! >> pids
	wait_for grep -q '^port ' slow.out
	run forward --to "grpc://127.0.0.1:$(sed -n 's/^port //p' slow.out)" \
	    --timeout 300ms --retries 1 < ev.bin
	echo "$output"
	no_crash
	[ "$status" -eq 4 ]
	[[ "${lines[0]}" == *"DEADLINE_EXCEEDED"* ]]
}

@test "exit statuses 0, 64, 65, 69, 70, 74: by real failures, without a crash" {
	# exit-status: forward 0
	# exit-status: forward 64
	# exit-status: forward 65
	# exit-status: forward 69
	# exit-status: forward 70
	# exit-status: forward 74
	evcat -e "$DATA/man/events.jsonl" > ev.bin
	sink demo demo_sink.py
	run forward --to grpc://127.0.0.1:$PORT < ev.bin
	no_crash
	[ "$status" -eq 0 ]
	run forward --to grpc://127.0.0.1:$PORT --window 0 < ev.bin
	no_crash
	[ "$status" -eq 64 ]
	head -c 10 ev.bin > cut.bin
	run forward --to grpc://127.0.0.1:$PORT < cut.bin
	no_crash
	[ "$status" -eq 65 ]
	events make --invocations 1 --events 3 > build.bin
	for to in grpc://127.0.0.1:1 "unix:$BATS_TEST_TMPDIR/nobody.sock"; do
		for p in demo bes store; do
			run forward -p "$p" --to "$to" --retries 2 < build.bin
			echo "$p $to: $output"
			no_crash
			[ "$status" -eq 69 ]
		done
	done
	# 70: out of memory for a record that says it is 512 MiB long
	printf '\200\200\200\200\002abc' > huge.bin
	if [ -n "$EVPIPE_SANITIZERS" ]; then
		run env ASAN_OPTIONS="${ASAN_OPTIONS:-}:allocator_may_return_null=1:max_allocation_size_mb=64" \
		    forward -n -m 1G < huge.bin
	else
		run prlimit --as=300000000 forward -n -m 1G < huge.bin
	fi
	echo "$output"
	[ "$status" -eq 70 ]
	# ASan says so too when an allocation is refused; that line is its own
	[ "$(grep -v '^==[0-9]*==WARNING: AddressSanitizer failed to allocate' <<< "$output")" = "forward: out of memory" ]
	# 74: stdout, with --tee and with --dry-run, for every protocol
	run bash -c "forward --to grpc://127.0.0.1:$PORT --tee < ev.bin > /dev/full"
	no_crash
	[ "$status" -eq 74 ]
	for p in demo bes store "unary --method /a.B/C"; do
		run bash -c "forward -n -p $p < build.bin > /dev/full"
		echo "$p: $output"
		no_crash
		[ "$status" -eq 74 ]
		[ "$output" = "forward: stdout: No space left on device" ]
	done
	# 74: --dead-letter that cannot be written
	run forward -n -p bes --unsendable dead-letter --dead-letter /dev/full < ev.bin
	echo "$output"
	no_crash
	[ "$status" -eq 74 ]
	[ "${lines[0]}" = "forward: /dev/full: No space left on device" ]
	# 74: stdin that cannot be read
	run forward --to grpc://127.0.0.1:$PORT < .
	no_crash
	[ "$status" -eq 74 ]
	[ "$output" = "forward: stdin: Is a directory" ]
}

@test "metrics: delivered, passed over, dead letters, in flight, last delivery; parsed by prometheus_client" {
	events make --invocations 3 --events 40 > ev.bin
	sink demo demo_sink.py
	EVPIPE_METRICS_FILE=$PWD/ok.prom run -0 forward \
	    --to grpc://127.0.0.1:$PORT < ev.bin
	evcat -e "$DATA/man/events.jsonl" > two.bin
	sink demo2 demo_sink.py --fail-first 1000 --code PERMISSION_DENIED
	EVPIPE_METRICS_FILE=$PWD/dead.prom run -7 forward \
	    --to grpc://127.0.0.1:$PORT --dead-letter dead.bin < two.bin
	"$PYTHON3" - <<'PY'
from prometheus_client.parser import text_string_to_metric_families
def values(path):
    v = {}
    for fam in text_string_to_metric_families(open(path).read()):
        for s in fam.samples:
            if s.labels.get("tool") == "forward":
                v[s.name] = (fam.type, s.value)
    return v
ok, dead = values("ok.prom"), values("dead.prom")
assert ok["evpipe_events_delivered_total"] == ("counter", 120), ok
assert ok["evpipe_events_in_flight"] == ("gauge", 0), ok
assert ok["evpipe_dead_letters_total"][1] == 0, ok
assert ok["evpipe_last_delivery_timestamp_seconds"][1] > 1.7e9, ok
assert dead["evpipe_events_delivered_total"][1] == 0, dead
assert dead["evpipe_dead_letters_total"][1] == 2, dead
assert dead["evpipe_last_delivery_timestamp_seconds"][1] == 0, dead
PY
}
