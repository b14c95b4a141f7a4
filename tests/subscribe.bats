#!/usr/bin/env bats
# subscribe against independent peers: a fake EngFlow notification queue
# and a fake Axway watch service on python3-grpcio, the harvester on
# python's http.server, Google's protobuf runtime reading the output.

load helpers

PROTOS="cloudevent.proto engflow/notification/v1/notification.proto
	engflow/notification/v1/notification_queue.proto
	engflow/eventstore/v1/notifications.proto engflow/auth/auth_context.proto
	engflow/iam/v1/user.proto google/rpc/status.proto watch.proto
	apicentral.proto"
QUEUE=eventstore/lifecycle-events
TOPIC=/management/v1alpha1/watchtopics/t1

setup_file() {
	export PYOUT=$BATS_FILE_TMPDIR/py
	mkdir -p "$PYOUT"
	# shellcheck disable=SC2086
	(cd "$EVPIPE_SRCDIR/proto" && protoc -I. --python_out="$PYOUT" $PROTOS)
	"$PEERS/gen" "$PYOUT"
	certs "$BATS_FILE_TMPDIR/pki"
}

setup() {
	setup_tmp
	# servers killed on purpose come back fast
	export EVPIPE_RETRY_INITIAL_MS=100
}

teardown() {
	local pid
	[ -f "$BATS_TEST_TMPDIR/pids" ] || return 0
	while read -r pid; do
		kill -CONT "$pid" 2>/dev/null
		kill "$pid" 2>/dev/null
	done < "$BATS_TEST_TMPDIR/pids"
	wait 2>/dev/null || true
	rm -f "$BATS_TEST_TMPDIR/pids"
}

# A CA, a server certificate for 127.0.0.1/localhost, one for
# elsewhere.example, a client certificate.
certs() {
	local d=$1 n
	mkdir -p "$d" && cd "$d" || return 1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ca \
	    -keyout ca.key -out ca.pem 2>/dev/null
	for n in server:localhost:IP:127.0.0.1,DNS:localhost \
	    elsewhere:elsewhere.example:DNS:elsewhere.example \
	    client:client:DNS:client; do
		IFS=: read -r name cn san <<< "$n"
		openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" \
		    -keyout "$name.key" -out "$name.csr" 2>/dev/null
		echo "subjectAltName=$san" > "$name.ext"
		openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key \
		    -CAcreateserial -days 2 -extfile "$name.ext" \
		    -out "$name.pem" 2>/dev/null
	done
	cd - > /dev/null
}
PKI() { echo "$BATS_FILE_TMPDIR/pki/$1"; }

# wait_for COMMAND...: until it succeeds, at most 60 s.
wait_for() {
	local i
	for i in $(seq 600); do
		"$@" && return 0
		sleep 0.1
	done
	echo "timed out waiting for: $*" >&2
	return 1
}

# bg NAME COMMAND...: run in the background, killed in teardown.
bg() {
	local name=$1
	shift
	rm -f "$name.out" # so nobody reads the last one's
	"$@" > "$name.out" 2> "$name.err" &
	echo $! >> "$BATS_TEST_TMPDIR/pids"
	eval "${name}_pid=$!"
}

has_port() { grep -q "^port " "$1.out"; }

# queue NAME [fake_queue options]: start a fake queue; $PORT.
queue() {
	local name=$1
	shift
	bg "$name" "$PYTHON3" "$PEERS/fake_queue.py" --pyout "$PYOUT" \
	    --state qstate --log q.log "$@"
	wait_for has_port "$name" || { cat "$name.err" >&2; return 1; }
	PORT=$(sed -n 's/^port //p' "$name.out")
}

# watch [fake_watch options]: start a fake Axway; $PORT and $HTTP.
watch() {
	bg watch "$PYTHON3" "$PEERS/fake_watch.py" --pyout "$PYOUT" \
	    --log w.log "$@"
	wait_for grep -q "^http " watch.out || { cat watch.err >&2; return 1; }
	PORT=$(sed -n 's/^port //p' watch.out)
	HTTP=$(sed -n 's/^http //p' watch.out)
}

check() { "$PYTHON3" "$PEERS/sub_check.py" "$PYOUT" "$@"; }
jwt() { "$PYTHON3" "$PEERS/mkjwt.py" "$@"; }
acked() { wc -l < qstate/acked; }
# wait_for helpers (evaluated on every try)
acks_ge() { [ "$(acked)" -ge "$1" ]; }
violations() { ! grep violation "${1:-q.log}"; }
nrecords() { check ids "$1" | wc -l; }

# A test never hangs: at most 30 s without an event (options given
# later win).
pull() {
	subscribe --idle-timeout 30 --endpoint "grpc://127.0.0.1:$PORT" \
	    --queue "$QUEUE" "$@"
}

axway() {
	subscribe --idle-timeout 30 --endpoint "grpc://127.0.0.1:$PORT" \
	    --topic "$TOPIC" --tenant org1 \
	    --harvester "http://127.0.0.1:$HTTP/events" "$@"
}

# --- the command line -----------------------------------------------------

@test "bad flags: a clear message, the synopsis, exit 64" {
	bad() {
		run -64 subscribe "$@"
		echo "$output"
		[[ "${lines[0]}" == "subscribe: "* ]]
		[[ "${lines[1]}" == "usage: subscribe "* ]]
	}
	bad --queue q
	[[ "${lines[0]}" == *"no --endpoint"* ]]
	bad --endpoint grpc://127.0.0.1:1
	[[ "${lines[0]}" == *"no --queue, --topic or --method"* ]]
	bad --endpoint http://x --queue q
	[[ "${lines[0]}" == *"not a grpc://"* ]]
	bad --endpoint grpc://x --queue q --topic /t
	[[ "${lines[0]}" == *"exclude each other"* ]]
	bad --endpoint grpc://x --topic /t
	[[ "${lines[0]}" == *"needs --tenant"* ]]
	bad --endpoint grpc://x --topic /t --tenant o
	[[ "${lines[0]}" == *"needs a token"* ]]
	bad --endpoint grpc://x --queue q --state f
	[[ "${lines[0]}" == *"--state is for --api axway only"* ]]
	bad --endpoint grpc://x --queue q --ack-deadline 10s
	[[ "${lines[0]}" == *"not a time from 30000ms to 300s"* ]]
	bad --endpoint grpcs://x --queue q --tls_certificate c
	[[ "${lines[0]}" == *"--cert and --key go together"* ]]
	bad --endpoint grpc://x --queue q --cacert c
	[[ "${lines[0]}" == *"need a grpcs:// endpoint"* ]]
	bad --endpoint grpc://x --queue q --retries 0
	bad --endpoint grpc://x --queue q --count x
	bad --endpoint grpc://x --queue q --auth-header basic
	bad --endpoint grpc://x --method Foo
	bad --endpoint grpc://x --queue q --token-file f --token-env V
	[[ "${lines[0]}" == *"only one way"* ]]
	bad --endpoint grpc://x --queue q --token-file "$BATS_TEST_TMPDIR/none"
	[[ "${lines[0]}" == *"token file"*"No such file"* ]]
	bad --endpoint grpc://x --queue q --frobnicate
	[[ "${lines[0]}" == *"unknown option --frobnicate"* ]]
	bad --endpoint grpc://x --queue q extra
	# binary records never go to a terminal unless forced
	run -64 script -qec "subscribe --endpoint grpc://x --queue q" /dev/null
	[[ "$output" == *"refusing to write binary records to a terminal"* ]]
}

@test "unreachable endpoint: retried with backoff; --retries gives up with 14" {
	run -14 subscribe --endpoint grpc://127.0.0.1:1 --queue q --retries 3
	echo "$output"
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" == "subscribe: grpc://127.0.0.1:1: queue q: UNAVAILABLE: "*"Connection refused; reconnecting" ]]
	[[ "${lines[1]}" == *"giving up after 3 attempts" ]]
	# and by default it never gives up
	run -124 timeout 2 subscribe --endpoint grpc://127.0.0.1:1 --queue q
	# an address that does not resolve is retried the same way
	run -14 subscribe --endpoint grpc://nonexistent.invalid --queue q \
	    --retries 1
	[[ "$output" == *"nonexistent.invalid"* ]]
}

# --- EngFlow notification queue -------------------------------------------

@test "engflow: every notification, mapped exactly, acked after it was written" {
	queue q --count 40 --check-output out.bin
	pull --count 40 > out.bin 2> err
	check engflow out.bin > ids
	[ "$(wc -l < ids)" -eq 40 ]
	[ "$(sort -u ids | wc -l)" -eq 40 ]
	wait_for acks_ge 40
	violations
	# engflow.md 1.2: the first request names the queue and the client
	first=$(grep '"first"' q.log | head -1)
	[[ "$first" == *"\"queue\": \"$QUEUE\""* ]]
	[[ "$first" =~ \"client\":\ \"evpipe/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\" ]]
	[[ "$first" == *'"tokens": 0'* ]]
	[[ "$first" != *deadline* ]]
	# no token: no auth headers at all (engflow.md 2.2)
	[[ "$first" != *x-engflow-auth* && "$first" != *authorization* ]]
	[ ! -s err ]
}

@test "engflow: the original client's flags, token headers, ack deadline" {
	echo tok-1 > srv.tok
	queue q --count 6 --token-file srv.tok
	echo tok-1 > cli.tok
	subscribe --notification_queue_endpoint="grpc://127.0.0.1:$PORT" \
	    --queue_name="$QUEUE" --token-file cli.tok --ack-deadline 45s \
	    -c 5 > out.bin
	[ "$(nrecords out.bin)" -eq 5 ]
	first=$(grep '"first"' q.log | head -1)
	[[ "$first" == *'"x-engflow-auth-method": "jwt-v0"'* ]]
	[[ "$first" == *'"x-engflow-auth-token": "tok-1"'* ]]
	[[ "$first" == *'"deadline": 45'* ]]
	# --token on the command line works, warns, and is never printed
	run -0 --separate-stderr pull --token tok-1 -c 1
	[[ "$stderr" == *"visible to other users"* ]]
	[[ "$stderr" != *tok-1* ]]
	violations
}

@test "engflow: --auth-header bearer sends authorization: Bearer" {
	echo tok-2 > srv.tok
	queue q --count 3 --token-file srv.tok --bearer
	TOK=tok-2 pull --token-env TOK --auth-header bearer -c 3 > out.bin
	[ "$(nrecords out.bin)" -eq 3 ]
	grep -q '"authorization": "Bearer tok-2"' q.log
	violations
}

@test "engflow: a rejected token ends with 16 and the server's reason" {
	echo good > srv.tok
	queue q --count 3 --token-file srv.tok
	echo bad > cli.tok
	run -16 --separate-stderr pull --token-file cli.tok
	echo "$stderr"
	[[ "$stderr" == "subscribe: grpc://127.0.0.1:$PORT: queue $QUEUE: UNAUTHENTICATED: bad token" ]]
	[ -z "$output" ]
}

@test "engflow: an expired JWT ends with 16 before connecting" {
	jwt -60 > cli.tok
	run -16 --separate-stderr subscribe --endpoint grpc://127.0.0.1:1 \
	    --queue q --token-file cli.tok
	echo "$stderr"
	[[ "$stderr" =~ ^subscribe:\ token:\ expired\ at\ 20[0-9-]+T[0-9:]+Z$ ]]
}

@test "engflow: the token file is read again when it changes" {
	printf 'tok-a\ntok-b\n' > srv.tok
	echo tok-a > cli.tok
	queue q --count 30 --token-file srv.tok --end-after 5
	bg sub pull --token-file cli.tok -c 30
	wait_for grep -q '"ack"' q.log
	echo tok-b > cli.tok.new && mv cli.tok.new cli.tok
	wait_for acks_ge 30
	wait $sub_pid
	grep '"first"' q.log > calls
	grep -q '"x-engflow-auth-token": "tok-a"' calls
	# every call after the change used the new token
	tail -1 calls | grep -q '"x-engflow-auth-token": "tok-b"'
	violations
}

@test "engflow: ack receipts with an error status are logged" {
	queue q --count 9 --refuse-ack-every 3
	bg sub pull --idle-timeout 3
	wait_for acks_ge 9
	wait $sub_pid
	grep -q "ack of notification 00000000-0000-4000-8000-000000000002 refused: DEADLINE_EXCEEDED: too late" sub.err
	# refused acks mean redelivery on the next stream: nothing lost
	[ "$(check ids sub.out | sort -u | wc -l)" -eq 9 ]
	violations
}

@test "engflow: server killed 10 times in 10000 notifications: nothing lost, nothing acked unwritten" {
	queue q --count 10000 --check-output sub.out
	bg sub pull --idle-timeout 10
	for k in $(seq 10); do
		wait_for acks_ge $((k * 900))
		kill -9 "$q_pid"
		queue q --count 10000 --check-output sub.out --port "$PORT"
	done
	wait_for acks_ge 10000
	run -0 wait "$sub_pid"
	check ids sub.out | sort -u > ids
	[ "$(wc -l < ids)" -eq 10000 ]
	violations
	# every call after the first is a reconnect (the server was killed)
	[ "$(grep -c '"first"' q.log)" -ge 11 ]
}
