#!/usr/bin/env bats
# subscribe's generic mode as grpcurl has it: -d JSON through -P or server
# reflection, -H metadata, a bare host:port, --plaintext, --max-time.  The
# peer is tests/peers/ticker_server.py (python3-grpcio, its reflection
# service written from the .proto); expected bytes come from Google's
# protobuf runtime (json_format), never from our encoder.

load helpers

WATCH=/evpipe.test.ticker.Ticker/Watch

setup_file() {
	export PYOUT=$BATS_FILE_TMPDIR/py
	mkdir -p "$PYOUT"
	protoc -I"$EVPIPE_SRCDIR/proto" --python_out="$PYOUT" cloudevent.proto
	protoc -I"$EVPIPE_SRCDIR/tests/proto" --python_out="$PYOUT" \
	    ticker.proto
	protoc -I"$EVPIPE_SRCDIR/tests/proto" --include_imports \
	    --descriptor_set_out="$BATS_FILE_TMPDIR/ticker.pb" ticker.proto
	"$PEERS/gen" "$PYOUT"
	make_certs "$BATS_FILE_TMPDIR/pki"
}

setup() {
	setup_tmp
	export EVPIPE_RETRY_INITIAL_MS=100
}

teardown() {
	local pid
	[ -f "$BATS_TEST_TMPDIR/pids" ] || return 0
	while read -r pid; do
		kill "$pid" 2>/dev/null || true
	done < "$BATS_TEST_TMPDIR/pids"
	wait 2>/dev/null || true
	rm -f "$BATS_TEST_TMPDIR/pids"
}

wait_for() {
	local i
	for i in $(seq 600); do
		"$@" && return 0
		sleep 0.1
	done
	echo "timed out waiting for: $*" >&2
	return 1
}

has_port() { grep -q "^port " ticker.out; }

# ticker [ticker_server.py options]: start the peer; $PORT.
ticker() {
	"$PYTHON3" "$PEERS/ticker_server.py" --pyout "$PYOUT" --log t.log \
	    "$@" > ticker.out 2> ticker.err &
	echo $! >> "$BATS_TEST_TMPDIR/pids"
	wait_for has_port || { cat ticker.err >&2; return 1; }
	PORT=$(sed -n 's/^port //p' ticker.out)
}

# The request bytes of a JSON text, by Google's protobuf runtime.
want_hex() {
	PYTHONPATH=$PYOUT "$PYTHON3" -c '
import sys, ticker_pb2
from google.protobuf import json_format
m = json_format.Parse(sys.argv[1], ticker_pb2.WatchRequest())
print(m.SerializeToString().hex())' "$1"
}

# The request bytes the peer got in its Nth call (1: the first).
got_hex() {
	grep '"method"' t.log | sed -n "${1}p" |
	    "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["request_hex"])'
}

# One line per event: type, the data's type URL (or "binary"), the Tick.
ticks() {
	PYTHONPATH=$PYOUT "$PYTHON3" -c '
import sys, cloudevent_pb2, ticker_pb2
from google.protobuf.internal.decoder import _DecodeVarint
b = open(sys.argv[1], "rb").read()
i = 0
while i < len(b):
    n, i = _DecodeVarint(b, i)
    ev = cloudevent_pb2.CloudEvent.FromString(b[i:i + n])
    i += n
    which = ev.WhichOneof("data")
    if which == "proto_data":
        t = ticker_pb2.Tick.FromString(ev.proto_data.value)
        url = ev.proto_data.type_url
    else:
        t = ticker_pb2.Tick.FromString(ev.binary_data)
        url = which
    print(ev.type, url, t.seq, t.topic, t.at.ToJsonString() if t.HasField("at") else "-")
' "$1"
}

sane() {
	[[ "$stderr" != *Sanitizer* && "$stderr" != *"runtime error"* ]]
}

# subscribe on the peer's method, never hanging a test (options given later
# win).
gsub() {
	subscribe --idle-timeout 30 --method "$WATCH" "$@"
}

@test "generic: -d JSON by reflection, encoded exactly as protobuf's runtime does; replies typed" {
	ticker --deps-apart
	json='{"topic":"t1","count":3,"since":"2026-01-02T03:04:05.500Z","labels":{"k":"v"},"ids":["1",-2,"9007199254740993"],"kind":"FAST","blob":"AAH/"}'
	gsub --plaintext --endpoint "127.0.0.1:$PORT" -d "$json" > out.bin
	[ "$(got_hex 1)" = "$(want_hex "$json")" ]
	ticks out.bin > got
	for i in 1 2 3; do
		echo "evpipe.test.ticker.Tick type.googleapis.com/evpipe.test.ticker.Tick $i t1 2026-01-02T03:04:05.500Z"
	done | diff - got
	# the service by symbol, then the import the answer left out, by name
	grep -q '"symbol": "evpipe.test.ticker.Ticker"' t.log
	grep -q '"file": "google/protobuf/timestamp.proto"' t.log
	# --request=@FILE and @- (subscribe reads stdin for nothing else)
	printf '%s' "$json" > req.json
	gsub --plaintext --endpoint "127.0.0.1:$PORT" --request=@req.json > /dev/null
	[ "$(got_hex 2)" = "$(want_hex "$json")" ]
	gsub --plaintext --endpoint "127.0.0.1:$PORT" -d @- < req.json > /dev/null
	[ "$(got_hex 3)" = "$(want_hex "$json")" ]
}

@test "generic: reflection on v1alpha only; a server without reflection: 12 and one line; an unknown service: 5" {
	ticker --reflection v1alpha
	gsub --plaintext --endpoint "127.0.0.1:$PORT" -d '{"count":2}' > out.bin
	[ "$(ticks out.bin | wc -l)" -eq 2 ]
	grep -q '"reflection": "v1alpha", "symbol"' t.log
	kill "$(tail -1 "$BATS_TEST_TMPDIR/pids")"
	ticker --reflection none
	# exit-status: subscribe 12
	run -12 --separate-stderr gsub --plaintext --endpoint "127.0.0.1:$PORT" \
	    -d '{"count":2}'
	echo "$stderr"
	sane
	[ -z "$output" ]
	[ "$(grep -c . <<< "$stderr")" -eq 1 ]
	[[ "$stderr" == "subscribe: grpc://127.0.0.1:$PORT: $WATCH: the server has no reflection service (UNIMPLEMENTED); give the types with -P FILE" ]]
	! grep -q '"method"' t.log
	kill "$(tail -1 "$BATS_TEST_TMPDIR/pids")"
	ticker
	# exit-status: subscribe 5
	run -5 --separate-stderr subscribe --plaintext --endpoint "127.0.0.1:$PORT" \
	    --method /evpipe.test.ticker.Nothing/Watch -d '{}'
	echo "$stderr"
	[[ "$stderr" == *"server reflection: evpipe.test.ticker.Nothing: NOT_FOUND"* ]]
	run -5 --separate-stderr subscribe --plaintext --endpoint "127.0.0.1:$PORT" \
	    --method /evpipe.test.ticker.Ticker/Nothing -d '{}'
	echo "$stderr"
	[[ "$stderr" == *"/evpipe.test.ticker.Ticker/Nothing: no such method in the service"* ]]
	sane
}

@test "generic: -P FILE instead of reflection; JSON that does not fit: 65 before connecting" {
	ticker --reflection none
	set=$BATS_FILE_TMPDIR/ticker.pb
	json='{"topic":"p","count":2,"since":"1970-01-01T00:00:01Z"}'
	gsub --plaintext --endpoint "127.0.0.1:$PORT" -P "$set" -d "$json" > out.bin
	[ "$(got_hex 1)" = "$(want_hex "$json")" ]
	ticks out.bin > got
	printf 'evpipe.test.ticker.Tick type.googleapis.com/evpipe.test.ticker.Tick %s p 1970-01-01T00:00:01Z\n' 1 2 | diff - got
	! grep -q reflection t.log
	# -P alone types the replies of a --request-file request
	PYTHONPATH=$PYOUT "$PYTHON3" -c '
import sys, ticker_pb2
sys.stdout.buffer.write(ticker_pb2.WatchRequest(topic="r", count=1).SerializeToString())' > req.bin
	gsub --plaintext --endpoint "127.0.0.1:$PORT" --protoset "$set" \
	    --request-file req.bin > out.bin
	[ "$(ticks out.bin)" = "evpipe.test.ticker.Tick type.googleapis.com/evpipe.test.ticker.Tick 1 r -" ]
	# without -P or -d: the bytes as before, typed by the method
	gsub --plaintext --endpoint "127.0.0.1:$PORT" --request-file req.bin > out.bin
	[ "$(ticks out.bin)" = "evpipe.test.ticker.Ticker.Watch binary_data 1 r -" ]
	calls=$(grep -c '"method"' t.log)
	# exit-status: subscribe 65
	for bad in '{"count":"x"}' '{"count":2' '{"nothing":1}' '{"count":2}x' \
	    '{"since":"yesterday"}'; do
		run -65 --separate-stderr gsub --plaintext \
		    --endpoint "127.0.0.1:$PORT" -P "$set" -d "$bad"
		echo "$bad: $stderr"
		[[ "$stderr" == "subscribe: --request: as evpipe.test.ticker.WatchRequest: "* ]]
		[ -z "$output" ]
		sane
	done
	[ "$(grep -c '"method"' t.log)" -eq "$calls" ]
	# exit-status: subscribe 64
	run -64 --separate-stderr gsub --plaintext --endpoint "127.0.0.1:$PORT" \
	    -P "$set" -d '{}' --method /evpipe.test.ticker.Ticker/Nothing
	[[ "$stderr" == *"/evpipe.test.ticker.Ticker/Nothing: no such method in the service"* ]]
	echo 'not a descriptor set' > bad.pb
	run -64 --separate-stderr gsub --plaintext --endpoint "127.0.0.1:$PORT" \
	    -P bad.pb -d '{}'
	[[ "$stderr" == "subscribe: -P bad.pb: not a FileDescriptorSet" ]]
	run -64 --separate-stderr gsub --plaintext --endpoint "127.0.0.1:$PORT" \
	    -P "$set" -d '{}' --request-file req.bin
	[[ "$stderr" == *"--request and --request-file exclude each other"* ]]
	# exit-status: subscribe 74
	run -74 --separate-stderr gsub --plaintext --endpoint "127.0.0.1:$PORT" \
	    -P "$set" -d @no-such-file
	[[ "$stderr" == *"--request no-such-file: No such file or directory"* ]]
}

@test "generic: -H metadata reaches the peer; reserved names: 64" {
	ticker
	gsub --plaintext --endpoint "127.0.0.1:$PORT" -d '{}' \
	    -H 'X-Tenant: acme corp' -H 'x-eq=a=b' --header 'x-raw-bin: AAH/' \
	    -H 'x-empty:' > /dev/null
	grep '"method"' t.log > call.json
	"$PYTHON3" -c '
import json, sys
md = json.load(open("call.json"))["metadata"]
want = [["x-tenant", "acme corp"], ["x-eq", "a=b"], ["x-raw-bin", "0001ff"], ["x-empty", ""]]
got = [kv for kv in md if kv[0].startswith("x-")]
sys.exit(0 if got == want else "got %r" % got)'
	# exit-status: subscribe 64
	for h in 'grpc-timeout: 1S' 'te: trailers' 'content-type: text/plain' \
	    ':authority: x' 'Connection: close' 'x y: z' 'novalue' \
	    'x-bin: %%%' $'x-nl: a\x01b'; do
		run -64 --separate-stderr gsub --plaintext \
		    --endpoint "127.0.0.1:$PORT" -d '{}' -H "$h"
		echo "$h: $stderr"
		[[ "$stderr" == "subscribe: --header "* ]]
	done
}

@test "generic: a bare host:port is TLS (--cacert), --plaintext makes it cleartext; URLs as before" {
	ticker --tls "$(PKI server.pem)" "$(PKI server.key)"
	gsub --endpoint "127.0.0.1:$PORT" --cacert "$(PKI ca.pem)" \
	    -d '{"count":1,"topic":"tls"}' > out.bin
	[ "$(ticks out.bin | cut -d' ' -f3-4)" = "1 tls" ]
	gsub --endpoint "localhost:$PORT" --cacert "$(PKI ca.pem)" \
	    -d '{"count":1,"topic":"tls"}' > out.bin
	[ "$(ticks out.bin | wc -l)" -eq 1 ]
	# the source names the endpoint as a URL
	PYTHONPATH=$PYOUT "$PYTHON3" -c '
import sys, cloudevent_pb2
from google.protobuf.internal.decoder import _DecodeVarint
b = open("out.bin", "rb").read()
n, i = _DecodeVarint(b, 0)
print(cloudevent_pb2.CloudEvent.FromString(b[i:i + n]).source)' > source
	[ "$(cat source)" = "grpcs://localhost:$PORT$WATCH" ]
	# exit-status: subscribe 69
	run -69 --separate-stderr gsub --endpoint "127.0.0.1:$PORT" \
	    -d '{}' --retries 1
	echo "$stderr"
	[[ "$stderr" == *"TLS handshake: "* ]]
	run -69 --separate-stderr gsub --plaintext --endpoint "127.0.0.1:$PORT" \
	    -d '{}' --retries 1
	echo "$stderr"
	sane
	kill "$(tail -1 "$BATS_TEST_TMPDIR/pids")"
	ticker
	gsub --plaintext --endpoint "127.0.0.1:$PORT" -d '{"count":1}' > out.bin
	[ "$(ticks out.bin | wc -l)" -eq 1 ]
	gsub --plaintext --endpoint "grpc://127.0.0.1:$PORT" -d '{"count":1}' > out.bin
	[ "$(ticks out.bin | wc -l)" -eq 1 ]
	gsub --endpoint "grpc://127.0.0.1:$PORT" -d '{"count":1}' > out.bin
	[ "$(ticks out.bin | wc -l)" -eq 1 ]
	# exit-status: subscribe 64
	run -64 --separate-stderr gsub --plaintext \
	    --endpoint "grpcs://127.0.0.1:$PORT" -d '{}'
	[[ "$stderr" == *"--plaintext is for a host:port endpoint"* ]]
	run -64 --separate-stderr gsub --plaintext --cacert "$(PKI ca.pem)" \
	    --endpoint "127.0.0.1:$PORT" -d '{}'
}

@test "generic: --max-time ends the call with 4 and one line; the events before it are all written" {
	ticker
	start=$(date +%s)
	# exit-status: subscribe 4
	rc=0
	gsub --plaintext --endpoint "127.0.0.1:$PORT" --max-time 2s \
	    -d '{"count":3,"topic":"m","hang":true}' > out.bin 2> err || rc=$?
	stderr=$(cat err)
	echo "$stderr"
	sane
	[ "$rc" -eq 4 ]
	[ "$(ticks out.bin | cut -d' ' -f3-4 | tr '\n' ,)" = "1 m,2 m,3 m," ]
	[ "$(grep -c . <<< "$stderr")" -eq 1 ]
	[[ "$stderr" == "subscribe: grpc://127.0.0.1:$PORT: $WATCH: DEADLINE_EXCEEDED: --max-time 2s is over" ]]
	# the deadline went to the server as grpc-timeout
	ms=$(grep '"method"' t.log | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["timeout_ms"])')
	[ "$ms" -gt 0 ] && [ "$ms" -le 2000 ]
	[ $(($(date +%s) - start)) -lt 30 ]
	# the total covers the reflection too, and reconnects: a server that
	# is not there uses it up with 4, not --retries' 69
	kill "$(tail -1 "$BATS_TEST_TMPDIR/pids")"
	run -4 --separate-stderr gsub --plaintext --endpoint "127.0.0.1:$PORT" \
	    -d '{}' --max-time 1s
	echo "$stderr"
	[[ "$stderr" == *"DEADLINE_EXCEEDED: --max-time 1s is over"* ]]
	# exit-status: subscribe 64
	run -64 --separate-stderr gsub --plaintext --endpoint "127.0.0.1:$PORT" \
	    -d '{}' --max-time 0s
	run -64 --separate-stderr subscribe --endpoint "127.0.0.1:$PORT" \
	    --queue q --max-time 1s
}
