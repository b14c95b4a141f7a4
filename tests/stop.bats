#!/usr/bin/env bats
# One SIGTERM or SIGINT stops every tool within the bound evpipe(7),
# SIGNALS, gives it, in the worst case each one has: a peer that never
# answers, a call that never ends, an input that never ends.  The bounds
# here are the documented ones (shortened by the options that set them)
# plus room for a slow machine; what was accepted is never lost.
# (resolve's are in resolve.bats: a silent event store and Central.)

load helpers

setup() {
	setup_tmp
	: > pids
}

teardown() {
	local pid
	while read -r pid; do
		kill "$pid" 2>/dev/null || true
	done < pids
	exec 7>&- 2>/dev/null || true
}

# bg NAME COMMAND...: run it in the background; NAME_pid is its pid.
bg() {
	local name=$1
	shift
	"$@" > "$name.out" 2> "$name.err" &
	echo $! >> pids
	eval "${name}_pid=$!"
}

# bgin NAME FILE COMMAND...: bg with standard input from FILE (an
# asynchronous command's stdin is /dev/null unless it says otherwise).
bgin() {
	local name=$1 file=$2
	shift 2
	"$@" < "$file" > "$name.out" 2> "$name.err" &
	echo $! >> pids
	eval "${name}_pid=$!"
}

# peer SCENARIO: the raw HTTP/2 server of tests/peers/h2peer.py; $PORT.
peer() {
	local i
	bg peer "$PYTHON3" "$PEERS/h2peer.py" server "$1"
	for i in $(seq 600); do
		PORT=$(sed -n 's/^port //p' peer.out)
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	return 1
}

wait_for() {
	local i
	for i in $(seq 600); do
		"$@" && return 0
		sleep 0.05
	done
	echo "timed out waiting for: $*" >&2
	return 1
}

# stop SIGNAL NAME: signal NAME_pid once; $st its status, $took seconds.
stop() {
	local pid
	eval "pid=\$${2}_pid"
	SECONDS=0
	kill -"$1" "$pid"
	st=0
	wait "$pid" || st=$?
	took=$SECONDS
	echo "$2: status $st after ${took}s"
	cat "$2.err"
}

no_sanitizer_report() { ! grep -q 'AddressSanitizer\|runtime error:' "$1"; }

@test "subscribe: SIGINT while the stream hangs (headers, then nothing): exit 0 within 5 s" {
	peer hang
	bg sub subscribe --endpoint "grpc://127.0.0.1:$PORT" \
	    --queue eventstore/lifecycle-events
	wait_for grep -q 'recv HEADERS' peer.err
	stop INT sub
	[ "$st" -eq 0 ]
	[ "$took" -le 10 ]
	no_sanitizer_report sub.err
}

@test "subscribe: SIGTERM while the server says nothing at all: exit 0 at once" {
	peer silent
	bg sub subscribe --endpoint "grpc://127.0.0.1:$PORT" \
	    --queue eventstore/lifecycle-events
	sleep 1
	stop TERM sub
	[ "$st" -eq 0 ]
	[ "$took" -le 10 ]
	no_sanitizer_report sub.err
}

@test "forward: SIGINT while the sink hangs: exit 4 after --drain-timeout, every event in --dead-letter" {
	# exit-status: forward 4
	peer hang
	evcat -e "$DATA/events.jsonl" > ev.bin
	mkfifo in
	exec 7<> in # a writer first: opening in to read must not block
	bgin fwd in forward --to "grpc://127.0.0.1:$PORT" --drain-timeout 2s \
	    --dead-letter dead.bin
	cat ev.bin >&7
	wait_for grep -q 'recv DATA' peer.err
	stop INT fwd
	[ "$st" -eq 4 ]
	[ "$took" -ge 2 ] && [ "$took" -le 12 ]
	cmp ev.bin dead.bin
	no_sanitizer_report fwd.err
}

@test "store put: SIGTERM with input still open: what was read is stored, exit 0 at once" {
	evcat -e "$DATA/events.jsonl" > ev.bin
	n=$(wc -l < "$DATA/events.jsonl")
	mkfifo in
	exec 7<> in # a writer first: opening in to read must not block
	bgin put in store put -d db.sqlite
	cat ev.bin >&7
	wait_for sh -c "[ \"\$(sqlite3 db.sqlite 'SELECT count(*) FROM messages' 2>/dev/null)\" = $n ]"
	stop TERM put
	[ "$st" -eq 0 ]
	[ "$took" -le 5 ]
	no_sanitizer_report put.err
}

@test "store serve: SIGTERM with a call that never ends: exit 0 after --grace" {
	bg srv store serve -l grpc://127.0.0.1:0 -d db.sqlite --grace 2s
	wait_for grep -q '^port ' srv.out
	PORT=$(sed -n 's/^port //p' srv.out)
	# A client that opens a PutBatch and never sends its message.
	bg cli "$PYTHON3" -c '
import socket, sys, time
sys.path.insert(0, sys.argv[2])
import h2peer as h
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(h.PREFACE + h.frame(h.SETTINGS, 0, 0))
s.sendall(h.headers(1, [(":method", "POST"), (":scheme", "http"),
    (":path", "/awakari.messages.Service/PutBatch"),
    (":authority", "127.0.0.1"), ("content-type", "application/grpc"),
    ("te", "trailers")]))
print("open", flush=True)
while s.recv(65536):
    pass
print("closed", flush=True)' "$PORT" "$PEERS"
	wait_for grep -q open cli.out
	sleep 0.5
	stop TERM srv
	[ "$st" -eq 0 ]
	[ "$took" -le 12 ]
	wait_for grep -q closed cli.out
	no_sanitizer_report srv.err
}

@test "evcat: SIGINT with input still open: what was read is written, exit 0 at once" {
	mkfifo in
	exec 7<> in # a writer first: opening in to read must not block
	bgin ev in evcat -e
	cat "$DATA/events.jsonl" >&7
	wait_for sh -c '[ -s ev.out ]'
	stop INT ev
	[ "$st" -eq 0 ]
	[ "$took" -le 5 ]
	evcat -e "$DATA/events.jsonl" | cmp - ev.out
}
