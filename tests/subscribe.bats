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
	local pid kid
	[ -f "$BATS_TEST_TMPDIR/pids" ] || return 0
	while read -r pid; do
		# a pipeline in the background: its members first
		for kid in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
			kill -CONT "$kid" 2>/dev/null || true
			kill "$kid" 2>/dev/null || true
		done
		kill -CONT "$pid" 2>/dev/null || true
		kill "$pid" 2>/dev/null || true
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

# bgsub NAME [options]: subscribe itself in the background, from the
# queue at $PORT (so that $NAME_pid is subscribe's own).
bgsub() {
	local name=$1
	shift
	bg "$name" subscribe --idle-timeout 30 \
	    --endpoint "grpc://127.0.0.1:$PORT" --queue "$QUEUE" "$@"
}

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
# slow_token SECONDS LIFETIME > FILE: a token command that takes its time
slow_token() {
	printf '#!/bin/sh\nsleep %s\nexec %s %s %s\n' "$1" "$PYTHON3" \
	    "$PEERS/mkjwt.py" "$2"
}
# no sanitizer report, no crash message in a run's stderr
sane() {
	[[ "$stderr" != *Sanitizer* && "$stderr" != *"runtime error"* ]]
}
acked() { wc -l < qstate/acked; }
# wait_for helpers (evaluated on every try)
acks_ge() { [ "$(acked)" -ge "$1" ]; }
calls_ge() { [ "$(grep -c '"first"' q.log)" -ge "$1" ]; }
violations() { ! grep violation "${1:-q.log}"; }
nrecords() { check ids "$1" | wc -l; }
# the fake queue's indexes of the notifications in a file of records
indexes() { check ids "$1" | awk -F- '{ print $NF + 0 }' | sort -n -u; }
stable() {	# stable FILE: its content did not change for 2 s
	local a b
	a=$(cat "$1" 2>/dev/null)
	sleep 2
	b=$(cat "$1" 2>/dev/null)
	[ -n "$a" ] && [ "$a" = "$b" ]
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

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
	[[ "${lines[0]}" == *"not a time from 30s to 300s"* ]]
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

@test "unreachable endpoint: retried with backoff; --retries gives up with 69" {
	# exit-status: subscribe 69
	run -69 subscribe --endpoint grpc://127.0.0.1:1 --queue q --retries 3
	echo "$output"
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" == "subscribe: grpc://127.0.0.1:1: queue q: UNAVAILABLE: "*"Connection refused; retrying in "* ]]
	[[ "${lines[1]}" == "subscribe: grpc://127.0.0.1:1: queue q: UNAVAILABLE: "*"Connection refused; giving up after 3 attempts" ]]
	# and by default it never gives up
	run -124 timeout 2 subscribe --endpoint grpc://127.0.0.1:1 --queue q
	# an address that does not resolve is retried the same way
	run -69 subscribe --endpoint grpc://nonexistent.invalid --queue q \
	    --retries 1
	[[ "$output" == *"nonexistent.invalid"* ]]
	# --idle-timeout without ever connecting is an outage, not a quiet
	# hour: the same status
	run -69 --separate-stderr subscribe --endpoint grpc://127.0.0.1:1 \
	    --queue q --idle-timeout 1s
	echo "$stderr"
	[[ "$stderr" == *"grpc://127.0.0.1:1: no event for 1000 ms, and never connected: queue q: UNAVAILABLE: "*"Connection refused" ]]
	sane
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

@test "engflow and axway: -H metadata on every call (and the harvester's requests); an API's own headers: 64" {
	queue q --count 3
	pull -H 'X-Team: build' -H x-bin=AAH/ -c 3 > out.bin
	[ "$(nrecords out.bin)" -eq 3 ]
	first=$(grep '"first"' q.log | head -1)
	[[ "$first" == *'"x-team": "build"'* ]]
	# a -bin value is sent as the bytes it stands for
	[[ "$first" == *'"x-bin": "0001ff"'* ]]
	violations
	watch --events 20 --history 10 --delay-ms 20
	axway --token-command "$PYTHON3 $PEERS/mkjwt.py 60" --since 0 -c 20 \
	    -H 'X-Team: build' -H x-bin=AAH/ > out.bin
	[ "$(check axway out.bin | wc -l)" -eq 20 ]
	grep '"subscribed"' w.log | grep -q '"extra": {"x-bin": "0001ff", "x-team": "build"}'
	grep '"harvest"' w.log | head -1 | grep -q '"extra": {"x-bin": "AAH/", "x-team": "build"}'
	violations w.log
	for h in 'authorization: x' 'X-Engflow-Auth-Token=t' 'x-engflow-auth-method: m'; do
		# exit-status: subscribe 64
		run -64 --separate-stderr subscribe --endpoint grpc://127.0.0.1:1 \
		    --queue q -H "$h"
		[[ "$stderr" == *"set by --api engflow itself"* ]]
	done
	for h in 'authorization: x' 'x-axway-tenant-id: t'; do
		run -64 --separate-stderr subscribe --api axway \
		    --endpoint grpc://127.0.0.1:1 --topic /t --tenant t -H "$h"
		[[ "$stderr" == *"set by --api axway itself"* ]]
	done
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
	# exit-status: subscribe 16
	echo good > srv.tok
	queue q --count 3 --token-file srv.tok
	echo bad > cli.tok
	run -16 --separate-stderr pull --token-file cli.tok
	echo "$stderr"
	[[ "$stderr" == "subscribe: grpc://127.0.0.1:$PORT: queue $QUEUE: UNAUTHENTICATED: bad token" ]]
	[ -z "$output" ]
}

@test "engflow: an expired JWT ends with 16 before connecting" {
	# exit-status: subscribe 16
	jwt -60 > cli.tok
	run -16 --separate-stderr subscribe --endpoint grpc://127.0.0.1:1 \
	    --queue q --token-file cli.tok
	echo "$stderr"
	[[ "$stderr" =~ ^subscribe:\ token\ file\ cli.tok:\ expired\ at\ 20[0-9-]+T[0-9:]+Z$ ]]
}

@test "engflow: the token file is read again when it changes" {
	printf 'tok-a\ntok-b\n' > srv.tok
	echo tok-a > cli.tok
	queue q --count 30 --token-file srv.tok --end-after 5
	bgsub sub --token-file cli.tok -c 30
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
	bgsub sub --idle-timeout 3
	wait_for acks_ge 9
	wait $sub_pid
	grep -q "ack of notification 00000000-0000-4000-8000-000000000002 refused: DEADLINE_EXCEEDED: too late" sub.err
	# refused acks mean redelivery on the next stream: nothing lost
	[ "$(check ids sub.out | sort -u | wc -l)" -eq 9 ]
	violations
}

@test "engflow: server killed 10 times in 10000 notifications: nothing lost, nothing acked unwritten" {
	queue q --count 10000 --check-output sub.out
	# (a queue restarted on a loaded machine may take seconds to answer)
	bgsub sub --idle-timeout 30
	firsts_ge() { [ "$(grep -c '"first"' q.log)" -ge "$1" ]; }
	for k in $(seq 10); do
		# kill each server only once subscribe has pulled from it
		wait_for firsts_ge "$k"
		wait_for acks_ge $((k * 900))
		kill -9 "$q_pid"
		queue q --count 10000 --check-output sub.out --port "$PORT"
		# subscribe is back before the next kill (acks may be past
		# the next mark already)
		wait_for calls_ge $((k + 1))
	done
	wait_for acks_ge 10000
	wait "$sub_pid"
	check ids sub.out | sort -u > ids
	[ "$(wc -l < ids)" -eq 10000 ]
	violations
	# every call after the first is a reconnect (the server was killed)
	[ "$(grep -c '"first"' q.log)" -ge 11 ]
}

@test "engflow: --ack-from acks only what came back, on the stream it came from" {
	queue q --count 2000 --check-returned returned
	pipeline() {
		pull --ack-from acks --idle-timeout 30 |
		    check stage acks returned
	}
	bg sub pipeline
	for k in 1 2 3; do
		wait_for acks_ge $((k * 500))
		kill -9 "$q_pid"
		queue q --count 2000 --check-returned returned --port "$PORT"
	done
	wait_for acks_ge 2000
	wait "$sub_pid"
	[ "$(sort -u returned | wc -l)" -eq 2000 ]
	violations
	[ -p acks ]
}

@test "engflow: a full stdout holds the server back; memory stays bounded" {
	queue q --count 30000 --window 100000 --sent-file sent
	mkfifo go
	mkfifo out.fifo
	# the reader opens stdout's pipe at once, reads only after "go"
	bg reader sh -c 'exec 3< out.fifo; read -r x < go; cat <&3 > out.bin'
	held() { exec subscribe --idle-timeout 30 \
	    --endpoint "grpc://127.0.0.1:$PORT" --queue "$QUEUE" > out.fifo; }
	bg sub held
	wait_for test -s sent
	wait_for stable sent
	sent=$(cat sent)
	echo "server sent $sent of 30000 while stdout was full" >&3
	[ "$sent" -lt 30000 ]
	rss=$(rss_kb "$sub_pid")
	echo "subscribe RSS ${rss} kB" >&3
	[ -n "$EVPIPE_SANITIZERS" ] || [ "$rss" -lt 40000 ]
	echo go > go
	wait_for acks_ge 30000
	[ "$(indexes out.bin | wc -l)" -eq 30000 ]
	violations
}

@test "engflow: SIGTERM writes out and acks what was received, exits 0" {
	queue q --count 100000 --check-output sub.out
	bgsub sub
	wait_for acks_ge 300
	kill -TERM "$sub_pid"
	wait "$sub_pid"	# exit 0
	# everything written was acked before the exit
	indexes sub.out > written
	sort -n -u qstate/acked > acked_ids
	[ -s written ]
	comm -23 written acked_ids > unacked
	[ ! -s unacked ]
	violations
}

@test "engflow: SIGTERM with acks that never come: waits --ack-deadline, says so, exits 0 in time" {
	# exit-status: subscribe 0
	queue q --count 50
	mkfifo acks
	# nobody writes the ids back; after 50 events it is held back (30 s
	# is the shortest deadline the queue takes)
	bgsub sub --ack-from acks --ack-deadline 30s --max-pending 50 \
	    -c 1000
	got_50() { [ "$(indexes sub.out 2>/dev/null | wc -l)" -eq 50 ]; }
	wait_for got_50
	SECONDS=0
	kill -TERM "$sub_pid"
	st=0
	wait "$sub_pid" || st=$?
	took=$SECONDS
	cat sub.err
	[ "$st" -eq 0 ]
	[ "$took" -ge 29 ] && [ "$took" -le 40 ]
	grep -q '^subscribe: stopping: waiting up to 30s for 50 acknowledgements$' sub.err
	grep -q '^subscribe: stopping with 50 events not acknowledged; the source delivers them again$' sub.err
	[ -z "$(grep -E 'Sanitizer|runtime error' sub.err)" ]
}

@test "engflow: --max-pending events waiting for acks are told after EVPIPE_WAIT_WARN, and when reading goes on" {
	queue q --count 30
	mkfifo acks
	EVPIPE_WAIT_WARN=1 bgsub sub --ack-from acks --max-pending 10 -c 30
	wait_for grep -q 'acknowledgements on acks (--max-pending): reading is held back' sub.err
	# the last stage catches up: every id so far comes back
	"$PYTHON3" -c '
import sys
sys.path.insert(0, sys.argv[1])
import cloudevent_pb2
data = open("sub.out", "rb").read()
i = 0
with open("acks", "w") as f:
    while i < len(data):
        n, s, j = 0, 0, i
        while True:
            b = data[j]; j += 1; n |= (b & 0x7f) << s; s += 7
            if b < 0x80: break
        ev = cloudevent_pb2.CloudEvent(); ev.ParseFromString(data[j:j + n])
        f.write(ev.id + "\n")
        i = j + n' "$PYOUT"
	wait_for grep -q '^subscribe: acknowledgements came: reading again after [0-9.]*m\{0,1\}s$' sub.err
	cat sub.err
	grep -q '^subscribe: 10 events have waited [0-9.]*m\{0,1\}s for acknowledgements on acks (--max-pending): reading is held back$' sub.err
}

@test "engflow: a second SIGTERM ends subscribe at once" {
	queue q --count 100000 --sent-file sent
	mkfifo out.fifo
	# stdout's pipe is open but never read: it fills up, so the drain
	# after the first SIGTERM cannot finish
	bg reader sh -c 'exec 3< out.fifo; sleep 120'
	stuck() { exec subscribe --endpoint "grpc://127.0.0.1:$PORT" \
	    --queue "$QUEUE" > out.fifo; }
	bg sub stuck
	wait_for test -s sent
	wait_for stable sent
	kill -TERM "$sub_pid"
	sleep 0.5
	kill -TERM "$sub_pid"
	st=0
	wait "$sub_pid" || st=$?
	[ "$st" -eq 143 ]	# the default action of SIGTERM
}

@test "engflow: a reader that goes away ends subscribe quietly" {
	# exit-status: subscribe 0
	queue q --count 1000
	run -0 --separate-stderr bash -c \
	    "subscribe --endpoint grpc://127.0.0.1:$PORT --queue $QUEUE | head -c1 > /dev/null"
	[ -z "$stderr" ]
}

@test "engflow: stdout that cannot be written: exit 74, nothing acked" {
	# exit-status: subscribe 74
	queue q --count 100
	run -74 --separate-stderr bash -c \
	    "subscribe --endpoint grpc://127.0.0.1:$PORT --queue $QUEUE > /dev/full"
	echo "$stderr"
	[ "$stderr" = "subscribe: stdout: No space left on device" ]
	[ "$(acked)" -eq 0 ]
}

# --- TLS, proxies, --connect-to ------------------------------------------

@test "tls: verified against --cacert; failures say why and give up with 69" {
	queue q --count 10 --tls "$(PKI server.pem)" "$(PKI server.key)"
	tls() {
		subscribe --idle-timeout 30 --endpoint "grpcs://127.0.0.1:$PORT" \
		    --queue "$QUEUE" "$@"
	}
	tls --cacert "$(PKI ca.pem)" -c 2 > out.bin
	[ "$(nrecords out.bin)" -eq 2 ]
	# no trust anchor for it
	run -69 --separate-stderr tls --retries 1
	echo "$stderr"
	[[ "$stderr" == *"TLS handshake: unable to get local issuer certificate"* ]]
	# the name does not match
	run -69 --separate-stderr subscribe --endpoint grpcs://elsewhere.example \
	    --connect-to "127.0.0.1:$PORT" --queue "$QUEUE" \
	    --cacert "$(PKI ca.pem)" --retries 1
	echo "$stderr"
	[[ "$stderr" == *"TLS handshake: "*"mismatch"* ]]
	# --insecure: no check, with a warning
	run -0 --separate-stderr tls --insecure -c 1
	[[ "$stderr" == *"--insecure: the server's certificate is not checked"* ]]
	# plaintext to a TLS server
	run -69 --separate-stderr subscribe --endpoint "grpc://127.0.0.1:$PORT" \
	    --queue "$QUEUE" --retries 1
	echo "$stderr"
}

@test "tls: mutual TLS with the original client's --tls_certificate and --tls_key" {
	queue q --count 10 --tls "$(PKI server.pem)" "$(PKI server.key)" \
	    --client-ca "$(PKI ca.pem)"
	run -69 --separate-stderr subscribe --endpoint "grpcs://127.0.0.1:$PORT" \
	    --queue "$QUEUE" --cacert "$(PKI ca.pem)" --retries 1
	echo "$stderr"
	subscribe --notification_queue_endpoint="grpcs://127.0.0.1:$PORT" \
	    --queue_name="$QUEUE" --cacert "$(PKI ca.pem)" \
	    --tls_certificate "$(PKI client.pem)" --tls_key "$(PKI client.key)" \
	    -c 3 --idle-timeout 30 > out.bin
	[ "$(nrecords out.bin)" -eq 3 ]
}

@test "connect-to: the connection goes elsewhere, the name stays the endpoint's" {
	queue q --count 10 --tls "$(PKI elsewhere.pem)" "$(PKI elsewhere.key)"
	subscribe --endpoint grpcs://elsewhere.example --queue "$QUEUE" \
	    --connect-to "127.0.0.1:$PORT" --cacert "$(PKI ca.pem)" \
	    -c 2 --idle-timeout 30 > out.bin
	[ "$(nrecords out.bin)" -eq 2 ]
	[ "$(check attr engflowinstance out.bin | sort -u)" = default ]
	# the source is the endpoint, not where the connection went
	check ids out.bin > /dev/null
	run -64 subscribe --endpoint grpc://x --queue q --connect-to nonsense/
}

@test "proxy: through HTTP CONNECT; a refusal says so and gives up with 69" {
	queue q --count 10
	bg proxy "$PYTHON3" "$PEERS/connect_proxy.py"
	wait_for has_port proxy
	pport=$(sed -n 's/^port //p' proxy.out)
	pull --proxy "http://127.0.0.1:$pport" -c 2 > out.bin
	[ "$(nrecords out.bin)" -eq 2 ]
	grep -q "CONNECT 127.0.0.1:$PORT HTTP/1.1 -> 200" proxy.err
	# https_proxy from the environment, as curl reads it
	https_proxy="http://127.0.0.1:$pport" subscribe --endpoint \
	    "grpcs://elsewhere.example" --connect-to "127.0.0.1:1" \
	    --queue q --retries 1 2> env.err || true
	grep -q "CONNECT 127.0.0.1:1 HTTP/1.1 -> 502" proxy.err
	bg refusing "$PYTHON3" "$PEERS/connect_proxy.py" --refuse
	wait_for has_port refusing
	rport=$(sed -n 's/^port //p' refusing.out)
	run -69 --separate-stderr pull --proxy "http://127.0.0.1:$rport" \
	    --retries 2
	echo "$stderr"
	[[ "$stderr" == *"proxy refused CONNECT: HTTP/1.1 502"* ]]
	[[ "$stderr" == *"giving up after 2 attempts"* ]]
}

# --- Axway ----------------------------------------------------------------

@test "axway: catch-up, then live with overlap and a gap: strictly increasing, no gap" {
	watch --events 60 --history 30 --gap 5 --overlap 4 --ping-every 0.3 \
	    --delay-ms 20
	axway --token-command "$PYTHON3 $PEERS/mkjwt.py 60" --state st \
	    --since 0 -c 60 > out.bin
	check axway out.bin > seqs
	seq 60 | diff - seqs
	[ "$(cat st)" = 60 ]
	grep -q '"pong": "ping-1"' w.log
	! grep -q '"ping": "ping-' out.bin
	violations w.log
	# the gap (ids committed but never sent live) came from the
	# harvester: one pass or two, as the race between the page and the
	# subscription fell
	grep -q '"harvest"' w.log
}

@test "axway: the token is refreshed in the stream at 4/5 of its lifetime" {
	# tokens live 5 s (4 to 5, exp is in whole seconds): refreshed at
	# 4/5, with a second's margin for running the command
	watch --events 40 --delay-ms 300 --ping-every 1
	axway --token-command "$PYTHON3 $PEERS/mkjwt.py 5" -c 40 > out.bin
	[ "$(check axway out.bin | wc -l)" -eq 40 ]
	[ "$(grep -c '"refresh"' w.log)" -ge 2 ]
	violations w.log
	# one stream did it all: refreshed, never cut off
	[ "$(grep -c '"subscribed"' w.log)" -eq 1 ]
}

@test "axway: a token file read again when it changes, for refreshes" {
	# the next token made first, put in place 1 s after the start: well
	# before the refresh at 4.8 s, however slow python starts on a
	# loaded machine
	jwt 60 > tok.new
	jwt 6 > tok
	watch --events 40 --delay-ms 250
	bg rot sh -c "sleep 1; mv tok.new tok"
	axway --token-file tok -c 40 > out.bin
	[ "$(grep -c '"refresh"' w.log)" -eq 1 ]
	violations w.log
	[ "$(grep -c '"subscribed"' w.log)" -eq 1 ]
}

@test "axway: an expired token, and a token command that cannot do better: 16" {
	watch --events 5
	run -16 --separate-stderr axway --token-command "$PYTHON3 $PEERS/mkjwt.py -10"
	echo "$stderr"
	[[ "$stderr" =~ ^subscribe:\ token\ command\ .*mkjwt.py\ -10:\ expired\ at\ 20 ]]
	# a command that gives no token at all is a usage error
	run -64 --separate-stderr axway --token-command "false"
	echo "$stderr"
	[[ "$stderr" == "subscribe: token command false: failed (exit status 1)"* ]]
}

@test "axway: harvester pages, a 410 skips to the newest id, --state carries over" {
	watch --events 260 --history 250 --purged 20
	echo 10 > st
	axway --token-command "$PYTHON3 $PEERS/mkjwt.py 60" --state st \
	    --page-size 100 -c 150 > out1.bin 2> err1
	cat err1
	grep -q "events after sequence id 10 were purged; going on after 20" err1
	check axway out1.bin > s1
	seq 21 170 | diff - s1
	[ "$(cat st)" = 170 ]
	grep -q 'page=2&pageSize=100&query=sequenceID%3E20&' w.log
	# a second run goes on after 170, no duplicate, no gap
	axway --token-command "$PYTHON3 $PEERS/mkjwt.py 60" --state st \
	    -c 90 > out2.bin
	check axway out2.bin > s2
	seq 171 260 | diff - s2
	[ "$(cat st)" = 260 ]
	violations w.log
}

@test "axway: a broken stream or harvester is retried; nothing is written twice" {
	watch --events 80 --history 10 --end-after 15 --harvest-fail 2 \
	    --delay-ms 5
	axway --token-command "$PYTHON3 $PEERS/mkjwt.py 60" --since 0 \
	    -c 80 -v > out.bin 2> err
	check axway out.bin > seqs
	seq 80 | diff - seqs
	[ "$(grep -c '"subscribed"' w.log)" -ge 4 ]
	# the stream and the harvester run at once: which failed first is
	# a race; both are retried
	[ "$(grep -c "harvester: HTTP status 503; retrying in" err)" -eq 2 ]
	violations w.log
}

@test "axway: with --ack-from, --state moves only over what came back" {
	watch --events 30 --history 30
	tok="$PYTHON3 $PEERS/mkjwt.py 60"
	# nobody writes the ids back: written, but the state stays
	axway --token-command "$tok" --state st --since 0 --ack-from acks \
	    -c 10 > out1.bin 2> err1
	[ "$(check axway out1.bin | wc -l)" -eq 10 ]
	[ "$(cat st)" = 0 ]
	# a last stage that reports back: the next run starts over at 1
	pipeline() {
		axway --token-command "$tok" --state st --ack-from acks -c 30 |
		    check stage acks returned
	}
	pipeline
	[ "$(cat st)" = 30 ]
	[ "$(sort -u returned | wc -l)" -eq 30 ]
	[ "$(head -1 returned)" = ev-1 ]
}

@test "axway: a busy topic, 5 s tokens from a 0.3 s command, cuts and pings: each sequence id once, in order" {
	# issue 15: 100 events/s from a producer that the harvester and
	# the stream share, a cut every 120 live events, a ping a second,
	# tokens that live 5 s and take 0.3 s to fetch; the fake ends a
	# stream whose token expires, refuses an expired one at the
	# harvester, and logs each as a violation
	watch --events 1800 --history 300 --rate 100 --end-after 120 \
	    --ping-every 1
	slow_token 0.3 5 > tok.sh
	chmod +x tok.sh
	axway --token-command ./tok.sh --since 0 --state st -c 1800 \
	    > out.bin 2> err
	check axway out.bin > seqs
	seq 1800 | diff - seqs
	[ "$(cat st)" = 1800 ]
	violations w.log
	! grep -q unauthenticated w.log
	[ "$(grep -c '"refresh"' w.log)" -ge 1 ]
	# live while the topic was busy: streams were cut after 120 live
	# events, so catch-up did not wait for the events to stop
	[ "$(grep -c '"ended": 120' w.log)" -ge 3 ]
}

@test "axway: a catch-up longer than a token's life carries a fresh token on every request" {
	watch --events 1400 --history 1400 --harvest-delay-ms 150
	slow_token 0.3 5 > tok.sh
	chmod +x tok.sh
	axway --token-command ./tok.sh --since 0 --page-size 40 -c 1400 \
	    > out.bin
	check axway out.bin > seqs
	seq 1400 | diff - seqs
	[ "$(grep -c '"harvest"' w.log)" -ge 35 ]
	violations w.log # an expired token at the harvester is one
}

@test "axway: a slow token command never blocks the loop: pings are answered while it runs" {
	watch --events 40 --delay-ms 200 --ping-every 0.3 --ping-timeout 0.8
	slow_token 1.5 8 > tok.sh
	chmod +x tok.sh
	axway --token-command ./tok.sh -c 40 > out.bin
	[ "$(check axway out.bin | wc -l)" -eq 40 ]
	[ "$(grep -c '"refresh"' w.log)" -ge 1 ]
	violations w.log
	[ "$(grep -c '"subscribed"' w.log)" -eq 1 ]
}

@test "axway: live events beyond the hold are let go and fetched again: each once, in order" {
	watch --events 1200 --history 800 --rate 100 --ping-every 0.5 \
	    --harvest-delay-ms 40
	axway --token-command "$PYTHON3 $PEERS/mkjwt.py 60" --since 0 \
	    --max-pending 30 -c 1200 -v > out.bin 2> err
	check axway out.bin > seqs
	seq 1200 | diff - seqs
	grep -q "live events held, no more room: fetching them again" err
	violations w.log # the stream was read on: every ping answered
}

@test "axway: the harvester refusing for good ends with its status (16, 7, 5), retries used up with 14; nothing crashes" {
	# exit-status: subscribe 16
	# exit-status: subscribe 7
	# exit-status: subscribe 5
	# exit-status: subscribe 14
	tok="$PYTHON3 $PEERS/mkjwt.py 60"
	for c in 401:16 403:7 404:5; do
		watch --events 20 --history 20 --harvest-fail 100000 \
		    --harvest-code "${c%:*}"
		# --state too: evpipe.7's "Axway watch to a store"
		run -"${c#*:}" --separate-stderr axway --token-command "$tok" \
		    --since 3 --state "st${c%:*}"
		echo "$stderr"
		[[ "$stderr" == *"topic $TOPIC: "*"harvester: HTTP status ${c%:*}" ]]
		sane
		[ -z "$output" ]
		kill "$watch_pid"
		wait "$watch_pid" || true
	done
	watch --events 20 --history 20 --harvest-fail 100000
	run -14 --separate-stderr axway --token-command "$tok" --since 0 \
	    --retries 2
	echo "$stderr"
	[[ "$stderr" == *"harvester: HTTP status 503; giving up after 2 attempts" ]]
	sane
}

@test "axway: every other exit status through a real failure: 7 from the stream, 69, 16, 65, 74, 64" {
	# exit-status: subscribe 7
	# exit-status: subscribe 69
	# exit-status: subscribe 16
	# exit-status: subscribe 65
	# exit-status: subscribe 74
	# exit-status: subscribe 64
	tok="$PYTHON3 $PEERS/mkjwt.py 60"
	watch --events 20 --watch-fail 7
	run -7 --separate-stderr axway --token-command "$tok" --since 0
	echo "$stderr"
	[[ "$stderr" == *"topic $TOPIC: PERMISSION_DENIED: failing on purpose" ]]
	sane
	# nobody there: 69, after --retries or at --idle-timeout
	run -69 --separate-stderr subscribe --endpoint grpc://127.0.0.1:1 \
	    --topic "$TOPIC" --tenant org1 --token-command "$tok" --since 0 \
	    --retries 2
	echo "$stderr"
	[[ "$stderr" == *"giving up after 2 attempts" ]]
	sane
	run -69 --separate-stderr subscribe --endpoint grpc://127.0.0.1:1 \
	    --topic "$TOPIC" --tenant org1 --token-command "$tok" \
	    --idle-timeout 1s
	echo "$stderr"
	[[ "$stderr" == *"no event for 1000 ms, and never connected: "* ]]
	sane
	# the token command's token has expired, and stays so
	run -16 --separate-stderr subscribe --endpoint grpc://127.0.0.1:1 \
	    --topic "$TOPIC" --tenant org1 \
	    --token-command "$PYTHON3 $PEERS/mkjwt.py -5"
	sane
	# a --state file that is not one: 65; one that cannot be written
	# (a directory that is not there): 74; stdout full: 74
	echo garbage > bad.st
	run -65 --separate-stderr axway --token-command "$tok" --state bad.st
	echo "$stderr"
	[[ "$stderr" == "subscribe: state bad.st: "* ]]
	sane
	kill "$watch_pid"
	wait "$watch_pid" || true
	watch --events 20 --history 20
	run -74 --separate-stderr axway --token-command "$tok" --since 0 \
	    --state nowhere/st -c 5
	echo "$stderr"
	[[ "$stderr" == *"state nowhere/st"*"No such file or directory"* ]]
	sane
	run -74 --separate-stderr bash -c "subscribe --endpoint grpc://127.0.0.1:$PORT \
	    --topic $TOPIC --tenant org1 --harvester http://127.0.0.1:$HTTP/events \
	    --token-command '$tok' --since 0 > /dev/full"
	[[ "$stderr" == *"stdout: No space left on device"* ]]
	sane
	run -64 --separate-stderr axway --token-command "$tok" --page-size 0
	sane
}

@test "retries: an attempt that delivered nothing is no progress: a silent peer uses --retries up" {
	# each call is accepted and left silent for 10.3 s, then ended;
	# an attempt that merely lasted (over 10 s) must not reset the count
	watch --stall 10.3
	run -14 --separate-stderr timeout 60 subscribe \
	    --endpoint "grpc://127.0.0.1:$PORT" --topic "$TOPIC" --tenant org1 \
	    --token-command "$PYTHON3 $PEERS/mkjwt.py 60" --retries 2
	echo "$stderr"
	[[ "$stderr" == *"UNAVAILABLE: stalled; giving up after 2 attempts" ]]
	[ "$(grep -c '"stalled"' w.log)" -eq 2 ]
}

@test "axway: --proxy and https_proxy tunnel the plain http:// harvester too (CONNECT only)" {
	watch --events 40 --history 20 --delay-ms 20
	bg proxy "$PYTHON3" "$PEERS/connect_proxy.py"
	wait_for has_port proxy
	pport=$(sed -n 's/^port //p' proxy.out)
	tok="$PYTHON3 $PEERS/mkjwt.py 60"
	axway --token-command "$tok" --since 0 -c 30 \
	    --proxy "http://127.0.0.1:$pport" > out.bin
	check axway out.bin > seqs
	seq 30 | diff - seqs
	grep -q "CONNECT 127.0.0.1:$PORT HTTP/1.1 -> 200" proxy.err
	grep -q "CONNECT 127.0.0.1:$HTTP HTTP/1.1 -> 200" proxy.err
	! grep -q -- "-> 405" proxy.err # no absolute-URI GET was tried
	# the environment's proxy, as for the stream
	n=$(grep -c "CONNECT 127.0.0.1:$HTTP " proxy.err)
	https_proxy="http://127.0.0.1:$pport" axway --token-command "$tok" \
	    --since 30 -c 10 > out2.bin
	seq 31 40 | diff - <(check axway out2.bin)
	[ "$(grep -c "CONNECT 127.0.0.1:$HTTP " proxy.err)" -gt "$n" ]
	! grep -q -- "-> 405" proxy.err
	violations w.log
}

# --- any streaming method -------------------------------------------------

@test "generic: a server stream, each reply an event" {
	# exit-status: subscribe 3
	# exit-status: subscribe 5
	bg echo "$PYTHON3" "$PEERS/echo_server.py" --pyout "$PYOUT"
	wait_for has_port echo
	PORT=$(sed -n 's/^port //p' echo.out)
	PYTHONPATH=$PYOUT "$PYTHON3" -c '
import sys, echo_pb2
sys.stdout.buffer.write(echo_pb2.EchoRequest(text="hi", count=5, size=3).SerializeToString())' > req.bin
	subscribe --endpoint "grpc://127.0.0.1:$PORT" \
	    --method /evpipe.test.Echo/ServerStream --request-file req.bin \
	    --type evpipe.test.EchoReply > out.bin
	check echo out.bin > got
	for i in 0 1 2 3 4; do
		echo "evpipe.test.EchoReply proto_data type.googleapis.com/evpipe.test.EchoReply hi $i"
	done | diff - got
	[ "$(check ids out.bin | sort -u | wc -l)" -eq 5 ]
	# without --type: the bytes as binary data, the method as the type
	subscribe --endpoint "grpc://127.0.0.1:$PORT" \
	    --method /evpipe.test.Echo/ServerStream --request-file req.bin > raw.bin
	check echo raw.bin > got
	for i in 0 1 2 3 4; do
		echo "evpipe.test.Echo.ServerStream binary_data - hi $i"
	done | diff - got
	# a status that is no reason to reconnect ends subscribe with it
	PYTHONPATH=$PYOUT "$PYTHON3" -c '
import sys, echo_pb2
sys.stdout.buffer.write(echo_pb2.EchoRequest(count=1, status=5, status_message="gone").SerializeToString())' > nf.bin
	run -5 --separate-stderr subscribe --endpoint "grpc://127.0.0.1:$PORT" \
	    --method /evpipe.test.Echo/ServerStream --request-file nf.bin
	echo "$stderr"
	[[ "$stderr" == *"NOT_FOUND: gone"* ]]
	sane
	# INVALID_ARGUMENT, subscribe.1's first example of 1-16
	PYTHONPATH=$PYOUT "$PYTHON3" -c '
import sys, echo_pb2
sys.stdout.buffer.write(echo_pb2.EchoRequest(count=1, status=3, status_message="no").SerializeToString())' > ia.bin
	run -3 --separate-stderr subscribe --endpoint "grpc://127.0.0.1:$PORT" \
	    --method /evpipe.test.Echo/ServerStream --request-file ia.bin
	[[ "$stderr" == *"INVALID_ARGUMENT: no"* ]]
	sane
}

@test "out of memory: exit 70 with one line" {
	# exit-status: subscribe 70
	# a request file of almost 4 MiB is the largest allocation there is;
	# the allocator's limit (sanitizers), or an address-space limit just
	# over what subscribe needs without it (plain), refuses it
	head -c 4000000 /dev/zero > big.req
	echo -n x > small.req
	run_limited() {	# run_limited KB REQUEST
		bash -c 'ulimit -v "$1"; exec subscribe --endpoint grpc://127.0.0.1:1 \
		    --method /a.B/C --request-file "$2" --retries 1' sh "$@"
	}
	if [ -n "$EVPIPE_SANITIZERS" ]; then
		run -70 --separate-stderr env ASAN_OPTIONS="$ASAN_OPTIONS:allocator_may_return_null=1:max_allocation_size_mb=2" \
		    subscribe --endpoint grpc://127.0.0.1:1 --method /a.B/C \
		    --request-file big.req --retries 1
	else
		# the least address space (in 256 KiB) that takes subscribe
		# through a small request to its end (69: nobody there)
		local lo=4096 hi=262144 mid
		while [ $((hi - lo)) -gt 256 ]; do
			mid=$(((lo + hi) / 2))
			st=0
			run_limited "$mid" small.req > /dev/null 2>&1 || st=$?
			if [ "$st" -eq 69 ]; then hi=$mid; else lo=$mid; fi
		done
		echo "enough: $hi KiB"
		run -70 --separate-stderr run_limited $((hi + 1024)) big.req
	fi
	echo "$stderr"
	[ -z "$output" ]
	# ASan says so too when an allocation is refused; that line is its own
	[ "$(printf '%s\n' "$stderr" | grep -v '^==[0-9]*==WARNING: AddressSanitizer failed to allocate')" = "subscribe: out of memory" ]
}
