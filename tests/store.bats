#!/usr/bin/env bats
# store: the awakari messages service against grpcio (Debian's
# python3-grpcio, tests/peers/store_client.py), the pipeline commands,
# both backends (SQLite, and a real PostgreSQL server started here from
# Debian's packages), crashes, auth and TLS.

load helpers

setup_file() {
	export STORE_PYOUT=$BATS_FILE_TMPDIR/py
	"$PEERS/gen_store" "$STORE_PYOUT"
	pyproto_setup
	# PostgreSQL must be there: without it these tests fail, not skip.
	"$EVPIPE_SRCDIR/tests/pg-server" start "$BATS_FILE_TMPDIR/pg" \
	    > "$BATS_FILE_TMPDIR/pg.out"
	make_certs "$BATS_FILE_TMPDIR/pki"
}

teardown_file() {
	"$EVPIPE_SRCDIR/tests/pg-server" stop "$BATS_FILE_TMPDIR/pg"
}

setup() {
	setup_tmp
	evcat -e "$DATA/events.jsonl" > ev.bin
}

teardown() {
	stop_all
}

# The load tests: smaller under the sanitizers, which are slow.
if [ -n "${EVPIPE_SANITIZERS:-}" ]; then
	PUTS=250
else
	PUTS=1000
fi

PGPORT() { sed -n 's/^port //p' "$BATS_FILE_TMPDIR/pg.out"; }
PGSOCK() { sed -n 's/^socket //p' "$BATS_FILE_TMPDIR/pg.out"; }
PGURI() {
	echo "postgres:///postgres?host=$(PGSOCK)&port=$(PGPORT)&user=evpipe"
}
psql_() { psql -X -q -t -A "$(PGURI)" -c "$1"; }

# use sqlite|pg: the database for this test, in $DB (store's options).
use() {
	case $1 in
	sqlite) DB=(-d "$BATS_TEST_TMPDIR/store.db") ;;
	pg) DB=(-d "$(PGURI)" --db-table "t$BATS_TEST_NUMBER") ;;
	esac
	BACKEND=$1
}

# How many events the database holds, and how many distinct ids.
count_rows() {
	if [ "$BACKEND" = sqlite ]; then
		sqlite3 "$BATS_TEST_TMPDIR/store.db" \
		    'SELECT count(*) || " " || count(DISTINCT id) FROM messages'
	else
		psql_ "SELECT count(*) || ' ' || count(DISTINCT id) FROM t$BATS_TEST_NUMBER"
	fi
}

# serve [NAME] [store serve options]: start a server on a free loopback
# port, wait for its "port N" line, set $PORT (and $PID).
serve() {
	local name=server i
	if [ "${1:-}" = --name ]; then
		name=$2
		shift 2
	fi
	: > "$name.out"
	store serve -l grpc://127.0.0.1:0 "$@" > "$name.out" 2> "$name.err" &
	PID=$!
	echo "$PID" >> pids
	for i in $(seq 600); do
		PORT=$(sed -n 's/^port //p' "$name.out")
		[ -n "$PORT" ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$name.err" >&2
	return 1
}

# Every process a test started, stopped even when it failed.
stop_all() {
	local pid
	[ -f "$BATS_TEST_TMPDIR/pids" ] || return 0
	while read -r pid; do
		kill -CONT "$pid" 2>/dev/null
		kill -KILL "$pid" 2>/dev/null
	done < "$BATS_TEST_TMPDIR/pids"
	wait 2>/dev/null || true
	rm -f "$BATS_TEST_TMPDIR/pids"
}

client() {
	"$PYTHON3" "$PEERS/store_client.py" "127.0.0.1:$PORT" "$@"
}

# wait_for CMD...: poll until CMD succeeds, up to 30 s.
wait_for() {
	local i
	for i in $(seq 300); do
		"$@" && return 0
		sleep 0.1
	done
	echo "timed out waiting for: $*" >&2
	return 1
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

# An event written by hand: map entries out of order, a field unknown
# to the schema, every attribute type; it must come back byte for byte.
odd_event() {
	"$PYTHON3" - <<-'END'
	import sys
	def v(n):
	    o = bytearray()
	    while True:
	        b, n = n & 0x7f, n >> 7
	        o.append(b | (0x80 if n else 0))
	        if not n:
	            return bytes(o)
	def f(num, b):
	    return v(num << 3 | 2) + v(len(b)) + b
	def attr(k, val):
	    return f(5, f(1, k.encode()) + f(2, val))
	ev = (f(1, b"odd") + f(2, b"/s") + f(3, b"1.0") + f(4, b"t") +
	      attr("zz", b"\x08\x01") +                       # Boolean
	      attr("aa", b"\x10" + v((1 << 64) - 5)) +       # Integer -5
	      attr("str", f(3, "\u00e9".encode())) +         # String
	      attr("bin", f(4, b"\x00\xff")) +               # Binary
	      attr("uri", f(5, b"http://x/")) +              # URI
	      attr("ref", f(6, b"#r")) +                     # URI-reference
	      attr("time", f(7, b"\x08\x01\x10\x02")) +      # Timestamp
	      v(99 << 3) + v(7) +                            # unknown field
	      f(6, b"\x00\x01\x02"))                         # binary_data
	sys.stdout.buffer.write(v(len(ev)) + ev)
	END
}

# ---- the command line -------------------------------------------------

@test "usage errors: no command, unknown command, options of another command" {
	# exit-status: store 64
	run --separate-stderr store
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "store: no command: serve, put, get, delete, clean or scan" ]
	run --separate-stderr store frobnicate
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "store: frobnicate: unknown command (serve, put, get, delete, clean, scan)" ]
	run --separate-stderr store get --tee x
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "store: --tee: not an option of get" ]
	run --separate-stderr store clean --retention 7x
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "store: --retention 7x: not a duration such as 30, 30s, 1m or 1d" ]
	run --separate-stderr store put extra
	[ "$status" -eq 64 ]
	run --separate-stderr env API_PORT=http store serve
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "store: API_PORT=http: not a port number" ]
}

@test "an unknown database URI scheme names the supported ones, not the password" {
	run --separate-stderr store scan -d 'mongodb://root:hunter2@mongodb:27017/?w=majority'
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = 'store: unsupported database URI scheme "mongodb": use a file path or sqlite:PATH for SQLite, postgres:// or postgresql:// for PostgreSQL' ]
	[[ "$stderr" != *hunter2* ]]
	DB_URI='mongodb+srv://x/' run --separate-stderr store serve
	[ "$status" -eq 64 ]
	[[ "${stderr_lines[0]}" == *'scheme "mongodb+srv"'* ]]
}

@test "the default database is \$XDG_DATA_HOME/evpipe/store.db" {
	XDG_DATA_HOME=$PWD/xdg store put < ev.bin
	[ -f xdg/evpipe/store.db ]
	[ "$(stat -c %a xdg/evpipe/store.db)" = 600 ]
	[ "$(XDG_DATA_HOME=$PWD/xdg store get 3 | hex)" = "$(evcat ev.bin | sed -n 3p | evcat -e | hex)" ]
}

# ---- put, get, delete, clean, scan --------------------------------------

roundtrip() {
	use "$1"
	store put "${DB[@]}" < ev.bin
	odd_event > odd.bin
	store put "${DB[@]}" < odd.bin
	# every event comes back as the bytes that went in
	store scan "${DB[@]}" > all.bin
	[ "$(hex all.bin)" = "$(cat ev.bin odd.bin | hex)" ]
	store get "${DB[@]}" odd > got.bin
	[ "$(hex got.bin)" = "$(hex odd.bin)" ]
	# request order; each id once; missing ones named on stderr
	run --separate-stderr store get "${DB[@]}" 5 nope 1 5
	[ "$status" -eq 0 ]
	[ "$stderr" = "store: nope: not found" ]
	printf '%s' "$output" > got.bin
	store get "${DB[@]}" 5 > a.bin
	store get "${DB[@]}" 1 > b.bin
	[ "$(hex got.bin)" = "$(cat a.bin b.bin | hex)" ]
	# ids on stdin
	printf '2\r\n\n3\n' | store get "${DB[@]}" | evcat > got.jsonl
	[ "$(sed -n 2,3p "$DATA/events.jsonl")" = "$(cat got.jsonl)" ]
	[ "$(count_rows)" = "7 7" ]
}

@test "sqlite: put, scan and get return every event byte for byte" {
	roundtrip sqlite
	[ "$(sqlite3 store.db 'PRAGMA journal_mode')" = wal ]
}

@test "postgresql: put, scan and get return every event byte for byte" {
	roundtrip pg
}

duplicates() {
	use "$1"
	store put "${DB[@]}" < ev.bin
	# the same ids again, different bodies: stored ones stay as they are
	sed 's/"demo\./"other./' "$DATA/events.jsonl" | evcat -e > again.bin
	run store put --tee "${DB[@]}" < again.bin
	[ "$status" -eq 0 ]
	store scan "${DB[@]}" > all.bin
	[ "$(hex all.bin)" = "$(hex ev.bin)" ]
	# within one batch too
	printf '{"specversion":"1.0","id":"d","source":"/","type":"first"}\n{"specversion":"1.0","id":"d","source":"/","type":"second"}\n' |
	    evcat -e | store put "${DB[@]}"
	[ "$(store get "${DB[@]}" d | evcat)" = '{"specversion":"1.0","id":"d","source":"/","type":"first"}' ]
	[ "$(count_rows)" = "7 7" ]
}

@test "sqlite: an id already stored is not overwritten, within a batch or across" {
	duplicates sqlite
}

@test "postgresql: an id already stored is not overwritten, within a batch or across" {
	duplicates pg
}

delete_clean_scan() {
	use "$1"
	store put "${DB[@]}" < ev.bin
	run store delete "${DB[@]}" 1 nope 1 2
	[ "$status" -eq 0 ] && [ "$output" = 2 ]
	run store delete "${DB[@]}" 1
	[ "$output" = 0 ]
	printf '3\n4\n' | store delete "${DB[@]}" > n
	[ "$(cat n)" = 2 ]
	# scan filters
	[ "$(store scan "${DB[@]}" --type demo.attrs | evcat | wc -l)" -eq 1 ]
	[ "$(store scan "${DB[@]}" --source /demo | evcat | wc -l)" -eq 2 ]
	[ "$(store scan "${DB[@]}" --source /demo --type demo.json | evcat | wc -l)" -eq 1 ]
	[ "$(store scan "${DB[@]}" --since 1h | evcat | wc -l)" -eq 2 ]
	[ "$(store scan "${DB[@]}" --since 2999-01-01T00:00:00Z | wc -c)" -eq 0 ]
	# clean: nothing is a week old; everything is older than 0s
	run store clean "${DB[@]}"
	[ "$status" -eq 0 ] && [ "$output" = 0 ]
	run store clean "${DB[@]}" --retention 0s
	[ "$status" -eq 0 ] && [ "$output" = 2 ]
	[ "$(store scan "${DB[@]}" | wc -c)" -eq 0 ]
}

@test "sqlite: delete counts what it deleted; scan filters; clean by retention" {
	delete_clean_scan sqlite
}

@test "postgresql: delete counts what it deleted; scan filters; clean by retention" {
	delete_clean_scan pg
}

scan_pages() {
	use "$1"
	"$PYTHON3" -c '
import json
for i in range(2500):
    print(json.dumps({"specversion": "1.0", "id": "e%05d" % (2500 - i), "source": "/s", "type": "t"}))' |
	    evcat -e > many.bin
	store put "${DB[@]}" --batch 700 < many.bin
	store scan "${DB[@]}" > all.bin
	cmp many.bin all.bin
}

@test "sqlite: scan pages through many events in the order they were stored" {
	scan_pages sqlite
}

@test "postgresql: scan pages through many events in the order they were stored" {
	scan_pages pg
}

put_tee_acks() {
	use "$1"
	# every event passed on after it is stored, and its evpipeack noted
	evcat < ev.bin | sed 's/^{/{"evpipeack":"ack-X",/' |
	    awk '{ sub(/ack-X/, "ack-" NR); print }' | evcat -e > acked.bin
	touch acks.log
	store put "${DB[@]}" --tee --acked-to acks.log < acked.bin > out.bin
	cmp acked.bin out.bin
	[ "$(cat acks.log)" = "$(printf 'ack-%d\n' 1 2 3 4 5 6)" ]
}

@test "sqlite: put --tee passes each event on, --acked-to writes its evpipeack" {
	put_tee_acks sqlite
}

@test "postgresql: put --tee passes each event on, --acked-to writes its evpipeack" {
	put_tee_acks pg
}

@test "put --acked-to: acks in input order once their batch is committed; nobody reading the FIFO is said" {
	use sqlite
	for i in $(seq 500); do
		printf '{"specversion":"1.0","id":"e%d","source":"/s","type":"t","evpipeack":"a%d","data":"x"}\n' "$i" "$i"
	done | evcat -e > many.bin
	touch acks.log
	store put "${DB[@]}" --batch 7 --acked-to acks.log < many.bin
	seq -f 'a%g' 500 | diff -u - acks.log
	mkfifo nobody.fifo
	run store put "${DB[@]}" --acked-to nobody.fifo < many.bin
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "store: nobody.fifo: nobody reads it: acks not written (the source will deliver those events again)" ]
}

bad_record() {
	use "$1"
	cp ev.bin bad.bin
	size=$(stat -c %s bad.bin)
	printf '\x03\xff\xff\xff' >> bad.bin
	st=0
	store put "${DB[@]}" --tee < bad.bin > out.bin 2> err || st=$?
	[ "$st" -eq 65 ]
	[ "$(cat err)" = "store: stdin: record 7 at byte $size: protobuf does not parse" ]
	# everything before it is stored, and was passed on
	cmp out.bin ev.bin
	[ "$(store scan "${DB[@]}" | hex)" = "$(hex ev.bin)" ]
	[ "$(count_rows)" = "6 6" ]
}

@test "sqlite: a bad record exits 65 after storing everything before it" {
	# exit-status: store 65
	# (bad_record checks the status)
	bad_record sqlite
}

@test "postgresql: a bad record exits 65 after storing everything before it" {
	bad_record pg
}

@test "put commits without waiting for the end of input (a live pipeline)" {
	use sqlite
	mkfifo in.fifo
	store put "${DB[@]}" --tee < in.fifo > out.bin 2> put.err &
	echo $! >> pids
	exec 8> in.fifo
	evcat ev.bin | head -1 | evcat -e > first.bin
	cat first.bin >&8
	# the first event is stored and passed on while input stays open
	wait_for test -s out.bin
	cmp first.bin out.bin
	store get "${DB[@]}" 1 | cmp - first.bin
	cat ev.bin >&8
	exec 8>&-
	wait_for sh -c "[ \$(store scan ${DB[*]@Q} | evcat | wc -l) -eq 6 ]"
}

@test "put --batch and --linger: batches by count and by time" {
	use sqlite
	store put "${DB[@]}" --batch 2 --linger 50ms --tee < ev.bin > out.bin
	cmp ev.bin out.bin
	mkfifo in.fifo
	store put "${DB[@]}" --batch 1000 --linger 300ms < in.fifo 2> put.err &
	echo $! >> pids
	exec 8> in.fifo
	printf '{"specversion":"1.0","id":"late","source":"/","type":"t"}\n' | evcat -e >&8
	wait_for sh -c "store get ${DB[*]@Q} late | grep -q late"
	exec 8>&-
}

@test "put: SIGTERM stores what was read, passes it on, and exits 0" {
	use sqlite
	mkfifo in.fifo
	store put "${DB[@]}" --tee --linger 1h < in.fifo > out.bin 2> put.err &
	ppid=$!
	echo "$ppid" >> pids
	exec 8> in.fifo
	cat ev.bin >&8
	# everything written has been read (nothing left in the pipe) ...
	wait_for sh -c "[ \$(\"$PYTHON3\" -c 'import fcntl, struct, termios
print(struct.unpack(\"i\", fcntl.ioctl(8, termios.FIONREAD, bytes(4)))[0])') -eq 0 ]"
	# ... but with an hour's linger and no end of input, not stored yet
	[ ! -s out.bin ]
	kill -TERM "$ppid"
	st=0
	wait "$ppid" || st=$?
	exec 8>&-
	[ "$st" -eq 0 ]
	cmp ev.bin out.bin
	[ "$(count_rows)" = "6 6" ]
}

@test "put --tee: a closed stdout stops quietly, a full disk is an I/O error" {
	use sqlite
	# exit-status: store 74
	# exit-status: store 0
	run --separate-stderr bash -c "store put ${DB[*]@Q} --tee < ev.bin > /dev/full"
	[ "$status" -eq 74 ]
	[ "$stderr" = "store: stdout: No space left on device" ]
	# the events are stored all the same
	[ "$(count_rows)" = "6 6" ]
	run bash -c "store put -d store2.db --tee < ev.bin | head -c 1 > /dev/null"
	[ "$status" -eq 0 ]
}

@test "out of memory for a record that says it is 512 MiB long is exit 70 with one line" {
	# exit-status: store 70
	use sqlite
	printf '\200\200\200\200\002abc' > huge.bin
	if [ -n "$EVPIPE_SANITIZERS" ]; then
		run --separate-stderr env ASAN_OPTIONS="${ASAN_OPTIONS:-}:allocator_may_return_null=1:max_allocation_size_mb=64" \
		    store put "${DB[@]}" -m 1G < huge.bin
	else
		run --separate-stderr prlimit --as=300000000 store put "${DB[@]}" -m 1G < huge.bin
	fi
	[ "$status" -eq 70 ]
	# ASan says so too when an allocation is refused; that line is its own
	[ "$(printf '%s\n' "$stderr" | grep -v '^==[0-9]*==WARNING: AddressSanitizer failed to allocate')" = "store: out of memory" ]
}

@test "get and scan refuse to write records to a terminal" {
	use sqlite
	store put "${DB[@]}" < ev.bin
	run script -qec "store get ${DB[*]@Q} 1" /dev/null
	[ "$status" -eq 64 ]
	[[ "$output" == *"refusing to write binary records to a terminal (-f forces)"* ]]
}

@test "postgresql: a server that cannot be reached is exit 69, with why" {
	# exit-status: store 69
	run --separate-stderr store scan -d "postgres://evpipe@127.0.0.1:1/postgres"
	[ "$status" -eq 69 ]
	[[ "$stderr" == "store: scan: postgresql: connection to server at \"127.0.0.1\", port 1 failed: Connection refused"* ]]
	[ "${#stderr_lines[@]}" -eq 1 ]
	run --separate-stderr store put -d "postgres://evpipe@127.0.0.1:1/postgres" < ev.bin
	[ "$status" -eq 69 ]
}

@test "postgresql: DB_PASSWORD and --db-password-file, never logged" {
	uri="postgres://evpipe@127.0.0.1:$(PGPORT)/postgres"
	run --separate-stderr store scan -d "$uri" --db-table pw
	[ "$status" -eq 69 ]
	[[ "$stderr" == *"password"* ]]
	echo evpipe-secret > pw
	store put -vvv -d "$uri" --db-table pw --db-password-file pw < ev.bin 2> put.err
	! grep -q evpipe-secret put.err
	[ "$(store scan -vvv -d "$uri" --db-table pw --db-password-file pw 2> scan.err | evcat | wc -l)" -eq 6 ]
	! grep -q evpipe-secret scan.err
	# DB_PASSWORD is serve's, as the original's: a pipeline command
	# leaves it alone
	DB_PASSWORD=evpipe-secret run --separate-stderr store get -d "$uri" --db-table pw 1
	[ "$status" -eq 69 ]
	# DB_NAME, DB_USERNAME and DB_PASSWORD fill in what the URI leaves out
	DB_NAME=postgres DB_USERNAME=evpipe DB_PASSWORD=evpipe-secret \
	    serve -vvv -d "postgres://127.0.0.1:$(PGPORT)" --db-table pw
	run client get 1
	[ "${lines[0]}" = '{"ids": ["1"]}' ]
	! grep -q evpipe-secret server.err
}

# ---- the gRPC service ---------------------------------------------------

service() {
	use "$1"
	serve "${DB[@]}"
	odd_event > odd.bin
	cat ev.bin odd.bin > all.bin
	run client put --raw --sent sent.bin < all.bin
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = '{"ackCount": 7}' ]
	jsub "$(last)" '{"status":"OK"}'
	cmp sent.bin all.bin
	# GetBatch: request order, each once, missing ones left out
	run client get 5 nope odd 1 5 --out got.bin
	[ "${lines[0]}" = '{"ids": ["5", "odd", "1"]}' ]
	jsub "$(last)" '{"status":"OK"}'
	store get "${DB[@]}" 5 odd 1 | cmp - got.bin
	[ "$(evcat got.bin | sed -n 1p)" = "$(sed -n 5p "$DATA/events.jsonl")" ]
	# the same bytes from Google's runtime, every attribute type
	cecodec decode < got.bin > py.jsonl
	store get "${DB[@]}" 5 odd 1 | cecodec decode | diff - py.jsonl
	# re-encoded by Google's runtime (not raw): stored as sent
	run client put --sent sent2.bin < ev.bin
	[ "${lines[0]}" = '{"ackCount": 6}' ]
	# DeleteBatch counts only what it deleted
	run client delete 1 nope 1 odd
	[ "${lines[0]}" = '{"ackCount": 2}' ]
	run client get odd 1
	[ "${lines[0]}" = '{"ids": []}' ]
	# Clean: nothing is older than a week
	run client clean
	[ "${lines[0]}" = '{"count": 0}' ]
	jsub "$(last)" '{"status":"OK"}'
	[ "$(count_rows)" = "5 5" ]
}

@test "sqlite: PutBatch, GetBatch, DeleteBatch, Clean from grpcio, byte for byte" {
	service sqlite
}

@test "postgresql: PutBatch, GetBatch, DeleteBatch, Clean from grpcio, byte for byte" {
	service pg
}

@test "duplicate ids within and across batches are acked and not overwritten" {
	use sqlite
	serve "${DB[@]}"
	run client put --raw < ev.bin
	[ "${lines[0]}" = '{"ackCount": 6}' ]
	sed 's/"demo\./"other./' "$DATA/events.jsonl" | evcat -e > again.bin
	cat again.bin again.bin > twice.bin
	run client put --raw < twice.bin
	[ "${lines[0]}" = '{"ackCount": 12}' ]
	run client put --raw --batch 4 < twice.bin
	[ "${lines[*]:0:3}" = '{"ackCount": 4} {"ackCount": 4} {"ackCount": 4}' ]
	store scan "${DB[@]}" | cmp - ev.bin
}

@test "empty batches are answered at once; ackCount 0 is an empty message" {
	use sqlite
	serve "${DB[@]}"
	run client raw /awakari.messages.Service/PutBatch ""
	[ "${lines[0]}" = '{"response": ""}' ]
	jsub "$(last)" '{"status":"OK"}'
	run client raw /awakari.messages.Service/GetBatch ""
	[ "${lines[0]}" = '{"response": ""}' ]
	run client raw /awakari.messages.Service/DeleteBatch ""
	[ "${lines[0]}" = '{"response": ""}' ]
	# PutBatchResponse{ackCount: 3} is 08 03 (awakari.md)
	head -c "$(evcat ev.bin | head -3 | evcat -e | wc -c)" ev.bin > three.bin
	run client raw /awakari.messages.Service/PutBatch "$("$PYTHON3" -c '
import sys
d, out = open(sys.argv[1], "rb").read(), b""
while d:
    out += b"\x0a" + d[:1 + d[0]]
    d = d[1 + d[0]:]
print(out.hex())' three.bin)"
	[ "${lines[0]}" = '{"response": "0803"}' ]
}

@test "a malformed request is INVALID_ARGUMENT and nothing is stored" {
	use sqlite
	serve "${DB[@]}"
	run client raw /awakari.messages.Service/PutBatch 0a03ffffff
	jsub "$(last)" '{"status":"INVALID_ARGUMENT","details":"msgs[0]: protobuf does not parse"}'
	run client raw /awakari.messages.Service/PutBatch 0a05
	jsub "$(last)" '{"status":"INVALID_ARGUMENT","details":"the request does not parse"}'
	run client raw /awakari.messages.Service/PutBatch 0801
	jsub "$(last)" '{"status":"INVALID_ARGUMENT","details":"field 1 has the wrong wire type"}'
	# a good event, then one without specversion: neither is stored
	good=$("$PYTHON3" -c '
import sys
d = open(sys.argv[1], "rb").read()
print((b"\x0a" + d[:1 + d[0]]).hex())' ev.bin)
	run client raw /awakari.messages.Service/PutBatch "${good}0a0a0a027878120173220174"
	jsub "$(last)" '{"status":"INVALID_ARGUMENT","details":"msgs[1]: missing required attribute specversion"}'
	run client raw /awakari.messages.Service/GetBatch 0a02c328
	jsub "$(last)" '{"status":"INVALID_ARGUMENT","details":"ids[0] is not UTF-8 text"}'
	run client raw /awakari.messages.cleaner.Service/Clean ff
	jsub "$(last)" '{"status":"INVALID_ARGUMENT"}'
	[ "$(count_rows)" = "0 0" ]
}

big_event() {
	use "$1"
	serve "${DB[@]}"
	# a 4 MiB record: the largest store put takes, and a PutBatch of it
	"$PYTHON3" -c '
import sys
sys.path.insert(0, sys.argv[1])
import cloudevent_pb2 as pb
ev = pb.CloudEvent(id="big", source="/s", spec_version="1.0", type="t")
ev.binary_data = bytes(range(256)) * (4 * 1024 * 4 - 1) + bytes(4096 - 64)
b = ev.SerializeToString()
ev.binary_data = ev.binary_data[:len(ev.binary_data) - (len(b) - 4 * 1024 * 1024)]
b = ev.SerializeToString()
assert len(b) == 4 * 1024 * 1024, len(b)
n, v = len(b), bytearray()
while True:
    v.append((n & 0x7f) | (0x80 if n >> 7 else 0)); n >>= 7
    if not n: break
sys.stdout.buffer.write(bytes(v) + b)' "$STORE_PYOUT" > big.bin
	run client put --raw < big.bin
	[ "${lines[0]}" = '{"ackCount": 1}' ]
	run client get big --out got.bin
	[ "${lines[0]}" = '{"ids": ["big"]}' ]
	cmp big.bin got.bin
	store delete "${DB[@]}" big
	store put "${DB[@]}" --tee < big.bin | cmp - big.bin
	store get "${DB[@]}" big | cmp - big.bin
}

@test "sqlite: a 4 MiB event through PutBatch, GetBatch and store put" {
	big_event sqlite
}

@test "postgresql: a 4 MiB event through PutBatch, GetBatch and store put" {
	big_event pg
}

@test "a GetBatch answer over --max-msg-size is RESOURCE_EXHAUSTED" {
	use sqlite
	serve "${DB[@]}" --max-msg-size 1K
	"$PYTHON3" -c '
import json
for i in range(3):
    print(json.dumps({"specversion": "1.0", "id": str(i), "source": "/", "type": "t", "data": "x" * 400}))' |
	    evcat -e | store put "${DB[@]}"
	run client get 0 1 2
	jsub "$(last)" '{"status":"RESOURCE_EXHAUSTED"}'
	run client get 1 2
	jsub "$(last)" '{"status":"OK"}'
}

# What the original's clean-up CronJob does, grpcurl with no .proto files
# (grpcurl -plaintext -d {} HOST:PORT awakari.messages.cleaner.Service/Clean):
# reflection, v1 and the v1alpha that grpcurl 1.8.7 speaks.
@test "reflection: the services listed; Clean called knowing nothing but their names" {
	use sqlite
	store put "${DB[@]}" < ev.bin
	DB_RETENTION_PERIOD=0s serve "${DB[@]}"
	"$PEERS/gen" "$BATS_TEST_TMPDIR/rpy"
	reflect() {
		"$PYTHON3" "$PEERS/reflect_client.py" "127.0.0.1:$PORT" \
		    --pyout "$BATS_TEST_TMPDIR/rpy" "$@"
	}
	for v in --v1alpha ""; do
		run reflect $v list
		[ "$status" -eq 0 ]
		jsub "${lines[0]}" '{"services": ["awakari.messages.Service", "awakari.messages.cleaner.Service", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]}'
		jsub "$(last)" '{"status":"OK"}'
		run reflect $v symbol:awakari.messages.Service
		jsub "${lines[0]}" '{"files": ["api/grpc/messages/service.proto", "cloudevent.proto", "google/protobuf/any.proto", "google/protobuf/timestamp.proto"]}'
	done
	run reflect call /awakari.messages.Service/GetBatch '{"ids": ["1", "nope"]}'
	jsub "${lines[1]}" '{"reply": {"msgs": [{"id": "1", "source": "/demo", "specVersion": "1.0", "type": "demo.hello", "textData": "{\"greeting\":\"hello\"}"}]}}'
	run reflect --v1alpha call /awakari.messages.cleaner.Service/Clean '{}'
	[ "${lines[0]}" = '{"method": {"input": "awakari.messages.cleaner.CleanRequest", "output": "awakari.messages.cleaner.CleanResponse", "client_streaming": false, "server_streaming": false}}' ]
	[ "${lines[1]}" = '{"reply": {"count": "6"}}' ]
	jsub "$(last)" '{"status":"OK"}'
	[ "$(count_rows)" = "0 0" ]
}

@test "health: SERVING for the server and both services; unknown names NOT_FOUND" {
	use sqlite
	serve "${DB[@]}"
	for s in "" awakari.messages.Service awakari.messages.cleaner.Service; do
		run client health --service "$s"
		[ "${lines[0]}" = '{"health": "SERVING"}' ]
	done
	run client health --service nope
	jsub "$(last)" '{"status":"NOT_FOUND"}'
	run client raw /awakari.messages.Service/Nope ""
	jsub "$(last)" '{"status":"UNIMPLEMENTED"}'
}

@test "postgresql: storage failure is INTERNAL; health follows the database" {
	use pg
	serve "${DB[@]}"
	run client put --raw < ev.bin
	[ "${lines[0]}" = '{"ackCount": 6}' ]
	psql_ "DROP TABLE t$BATS_TEST_NUMBER"
	run client put --raw < ev.bin
	jsub "$(last)" '{"status":"INTERNAL"}'
	[[ "$(last)" == *'relation \"t'*'\" does not exist'* ]]
	run client get 1
	jsub "$(last)" '{"status":"INTERNAL"}'
}

@test "postgresql: a restarted database: NOT_SERVING while down, then back" {
	use pg
	serve "${DB[@]}"
	dir=$(cat "$BATS_FILE_TMPDIR/pg/dir")
	"$EVPIPE_SRCDIR/tests/pg-server" pause "$BATS_FILE_TMPDIR/pg"
	run client put --raw < ev.bin
	jsub "$(last)" '{"status":"INTERNAL"}'
	wait_for sh -c "$(declare -f client); PORT=$PORT PYTHON3=$PYTHON3 PEERS=$PEERS client health | grep -q NOT_SERVING"
	"$EVPIPE_SRCDIR/tests/pg-server" resume "$BATS_FILE_TMPDIR/pg"
	wait_for sh -c "$(declare -f client); PORT=$PORT PYTHON3=$PYTHON3 PEERS=$PEERS client health | grep -q '\"SERVING'"
	run client put --raw < ev.bin
	[ "${lines[0]}" = '{"ackCount": 6}' ]
	grep -q "the database is unavailable" server.err
	grep -q "the database is back" server.err
}

@test "the original's environment: API_PORT, DB_URI, DB_TABLE_NAME, LOG_LEVEL" {
	: > server.out
	DB_URI=sqlite:env.db DB_TABLE_NAME=msgs LOG_LEVEL=-4 API_PORT=0 \
	    store serve > server.out 2> server.err &
	PID=$!
	echo "$PID" >> pids
	wait_for grep -q '^port ' server.out
	PORT=$(sed -n 's/^port //p' server.out)
	run client put --raw < ev.bin
	[ "${lines[0]}" = '{"ackCount": 6}' ]
	[ "$(sqlite3 env.db 'SELECT count(*) FROM msgs')" = 6 ]
	# LOG_LEVEL -4 (debug): per-call traces
	grep -q '^store: awakari.messages.Service/PutBatch: 6 acked$' server.err
	kill -TERM "$PID"
	wait "$PID"
	# LOG_LEVEL 8 (error): quiet; -v on the command line wins
	LOG_LEVEL=8 DB_URI=sqlite:env.db DB_TABLE_NAME=msgs API_PORT=0 \
	    store serve -v > s2.out 2> s2.err &
	PID=$!
	echo "$PID" >> pids
	wait_for grep -q '^port ' s2.out
	grep -q '^store: serving sqlite' s2.err
}

@test "the original's environment is serve's alone: put, get, scan, delete, clean ignore it" {
	# a DB_URI exported for a store serve elsewhere, and the rest
	export DB_URI=sqlite:$PWD/other.db DB_TABLE_NAME=other \
	    DB_RETENTION_PERIOD=0s LOG_LEVEL=-4
	store put -d mine.db < ev.bin
	XDG_DATA_HOME=$PWD/xdg store put < ev.bin
	[ ! -e other.db ]
	[ "$(sqlite3 mine.db 'SELECT count(*) FROM messages')" = 6 ]
	[ "$(sqlite3 xdg/evpipe/store.db 'SELECT count(*) FROM messages')" = 6 ]
	# LOG_LEVEL -4 would trace; the default says nothing
	store scan -d mine.db > all.bin 2> err
	[ ! -s err ]
	[ "$(hex all.bin)" = "$(hex ev.bin)" ]
	XDG_DATA_HOME=$PWD/xdg store get 1 > got.bin
	[ "$(evcat got.bin)" = "$(head -n 1 "$DATA/events.jsonl")" ]
	# DB_RETENTION_PERIOD=0s would remove all; clean keeps the 168h default
	run store clean -d mine.db
	[ "$output" = 0 ]
	run store delete -d mine.db 1
	[ "$output" = 1 ]
	[ ! -e other.db ]
}

@test "get, scan, delete and clean never create a database: a missing one is exit 74" {
	use sqlite
	for cmd in "get 1" scan "delete 1" clean; do
		# exit-status: store 74
		run --separate-stderr store $cmd -d typo.db
		[ "$status" -eq 74 ]
		[ "$stderr" = "store: typo.db: No such file or directory" ]
		[ ! -e typo.db ]
		[ -z "$output" ]
	done
	run --separate-stderr store scan -d sqlite:nodir/typo.db
	[ "$status" -eq 74 ]
	[ ! -e nodir ]
	# get and scan only read: a database nobody may write is fine
	store put "${DB[@]}" < ev.bin
	sum=$(cksum < store.db)
	store scan "${DB[@]}" > all.bin
	[ "$(hex all.bin)" = "$(hex ev.bin)" ]
	[ "$(cksum < store.db)" = "$sum" ]
	# a file that is no store: a clear line, nothing written into it
	echo 'not a database' > junk.db
	run --separate-stderr store get -d junk.db 1
	[ "$status" -eq 74 ]
	[ "$stderr" = "store: junk.db: file is not a database" ]
	[ "$(cat junk.db)" = 'not a database' ]
}

@test "postgresql: get, scan, delete and clean never create the table: a missing one is exit 74" {
	use pg
	for cmd in "get 1" scan "delete 1" clean; do
		# exit-status: store 74
		run --separate-stderr store $cmd "${DB[@]}"
		echo "$cmd: $stderr"
		[ "$status" -eq 74 ]
		[ "$stderr" = "store: ${cmd% *}: postgresql: relation \"t$BATS_TEST_NUMBER\" does not exist" ]
		[ -z "$output" ]
	done
	[ -z "$(psql_ "SELECT to_regclass('t$BATS_TEST_NUMBER')")" ]
	# put makes it; then they work
	store put "${DB[@]}" < ev.bin
	store scan "${DB[@]}" > all.bin
	[ "$(hex all.bin)" = "$(hex ev.bin)" ]
}

@test "durations: Go's syntax, and a bare number is seconds, as in every tool" {
	use sqlite
	store put "${DB[@]}" < ev.bin
	run store clean "${DB[@]}" --retention 604800
	[ "$output" = 0 ]
	store scan "${DB[@]}" --since 3600 > all.bin
	[ "$(hex all.bin)" = "$(hex ev.bin)" ]
	store scan "${DB[@]}" --since 1.5 > /dev/null
	sleep 1.1
	run store clean "${DB[@]}" --retention 1
	[ "$output" = 6 ]
	# exit-status: store 64
	run --separate-stderr store clean "${DB[@]}" --retention 24d5
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "store: --retention 24d5: not a duration such as 30, 30s, 1m or 1d" ]
	DB_RETENTION_PERIOD=-1 run --separate-stderr store serve "${DB[@]}" -l grpc://127.0.0.1:0
	[ "$status" -eq 64 ]
}

@test "periodic clean removes what is older than the retention" {
	use sqlite
	store put "${DB[@]}" < ev.bin
	serve "${DB[@]}" --retention 1s --clean-every 200ms -v
	wait_for sh -c "[ \$(sqlite3 store.db 'SELECT count(*) FROM messages') -eq 0 ]"
	grep -q "periodic clean: removed 6 events older than 1s" server.err
	kill "$PID"
	# Clean answers how many it removed
	store put "${DB[@]}" < ev.bin
	DB_RETENTION_PERIOD=0s serve --name s2 "${DB[@]}" --clean-every 0
	run client clean
	[ "${lines[0]}" = '{"count": 6}' ]
}

@test "a pipeline: store put --tee | forward -p store | store serve, with a token" {
	use sqlite
	echo tok3n > token
	serve -d served.db --token-file token
	evcat ev.bin | sed 's/^{/{"evpipeack":"a",/' | evcat -e > acked.bin
	store put "${DB[@]}" --tee < acked.bin |
	    forward -p store -t "grpc://127.0.0.1:$PORT" --auth-header bearer \
	    --token-file token --tee > delivered.bin
	cmp acked.bin delivered.bin
	# both stores hold the events as they came
	store scan "${DB[@]}" | cmp - acked.bin
	store scan -d served.db | cmp - acked.bin
}

# ---- many clients, several servers --------------------------------------

@test "sqlite: 20 clients at once, every put acked, every event stored once" {
	use sqlite
	serve "${DB[@]}"
	run nice "$PYTHON3" "$PEERS/store_client.py" "127.0.0.1:$PORT" \
	    load --clients 20 --puts "$PUTS"
	[ "$status" -eq 0 ]
	n=$((20 * PUTS))
	jsub "$output" "{\"calls\": $n, \"ok\": $n, \"acked\": $n}"
	[ "$(count_rows)" = "$n $n" ]
}

@test "postgresql: 20 clients at once, every put acked, every event stored once" {
	use pg
	serve "${DB[@]}"
	run nice "$PYTHON3" "$PEERS/store_client.py" "127.0.0.1:$PORT" \
	    load --clients 20 --puts "$PUTS"
	[ "$status" -eq 0 ]
	n=$((20 * PUTS))
	jsub "$output" "{\"calls\": $n, \"ok\": $n, \"acked\": $n}"
	[ "$(count_rows)" = "$n $n" ]
}

@test "postgresql: two servers sharing one database, the same ids at once" {
	use pg
	serve --name a "${DB[@]}"
	PA=$PORT
	serve --name b "${DB[@]}"
	PB=$PORT
	n=$((PUTS / 2))
	PORT=$PA client load --clients 4 --puts "$n" --prefix same > a.json &
	ca=$!
	PORT=$PB client load --clients 4 --puts "$n" --prefix same > b.json &
	cb=$!
	wait "$ca"
	wait "$cb"
	jsub "$(cat a.json)" "{\"ok\": $((4 * n)), \"acked\": $((4 * n))}"
	jsub "$(cat b.json)" "{\"ok\": $((4 * n)), \"acked\": $((4 * n))}"
	[ "$(count_rows)" = "$((4 * n)) $((4 * n))" ]
}

# ---- crashes and shutdown -----------------------------------------------

# Every id in FILE (one a line) is stored, as the database's own tools
# see it.
all_stored() {
	local file=$1 missing
	sort -u "$file" > want.ids
	if [ "$BACKEND" = sqlite ]; then
		sqlite3 store.db 'SELECT id FROM messages'
	else
		psql_ "SELECT id FROM t$BATS_TEST_NUMBER"
	fi | sort -u > have.ids
	missing=$(comm -23 want.ids have.ids | wc -l)
	echo "acked $(wc -l < want.ids), stored $(wc -l < have.ids), missing $missing"
	[ "$missing" -eq 0 ] && [ -s want.ids ]
}

serve_crash() {
	use "$1"
	serve "${DB[@]}"
	client load --clients 8 --puts 100000 --acked acked.ids --stop-on-error > load.json &
	cpid=$!
	echo "$cpid" >> pids
	wait_for sh -c '[ -f acked.ids ] && [ $(wc -l < acked.ids) -ge 2000 ]'
	kill -9 "$PID"
	wait "$cpid"
	all_stored acked.ids
	if [ "$BACKEND" = sqlite ]; then
		[ "$(sqlite3 store.db 'PRAGMA integrity_check')" = ok ]
	fi
	# and it serves again from the same database
	serve "${DB[@]}"
	run client get same-never-put
	jsub "$(last)" '{"status":"OK"}'
}

@test "sqlite: kill -9 of store serve under load loses nothing acked" {
	serve_crash sqlite
}

@test "postgresql: kill -9 of store serve under load loses nothing acked" {
	serve_crash pg
}

# gen_events N [paced]: N delimited events p0, p1, ... with evpipeack =
# id and 100 bytes of text, written straight in protobuf (quicker than
# JSON); paced: 200 at a time, 2 ms apart.
gen_events() {
	"$PYTHON3" - "$@" <<-'END'
	import sys, time
	def v(n):
	    o = bytearray()
	    while True:
	        b, n = n & 0x7f, n >> 7
	        o.append(b | (0x80 if n else 0))
	        if not n:
	            return bytes(o)
	def f(num, b):
	    return v(num << 3 | 2) + v(len(b)) + b
	out = sys.stdout.buffer
	head, text = f(2, b"/s") + f(3, b"1.0") + f(4, b"t"), f(7, b"x" * 100)
	for i in range(int(sys.argv[1])):
	    id = b"p%d" % i
	    ev = f(1, id) + head + f(5, f(1, b"evpipeack") + f(2, f(3, id))) + text
	    out.write(v(len(ev)) + ev)
	    if len(sys.argv) > 2 and i % 200 == 199:
	        out.flush()         # paced: a stream, not a file at once
	        time.sleep(0.002)
	END
}

put_crash() {
	use "$1"
	touch acks.log
	gen_events 200000 paced |
	    store put "${DB[@]}" --batch 500 --tee --acked-to acks.log > out.bin &
	ppid=$!
	echo "$ppid" >> pids
	wait_for sh -c '[ $(wc -l < acks.log) -ge 3000 ]'
	kill -9 "$ppid"
	wait "$ppid" || true
	# whatever was acked or passed on is stored; it stopped mid-stream
	all_stored acks.log
	[ "$(wc -l < have.ids)" -lt 200000 ]
	# a record cut short by the kill at the end of out.bin is no event
	evcat out.bin 2>/dev/null | "$PYTHON3" -c '
import json, sys
for line in sys.stdin:
    print(json.loads(line)["id"])' > teed.ids || true
	all_stored teed.ids
	if [ "$BACKEND" = sqlite ]; then
		[ "$(sqlite3 store.db 'PRAGMA integrity_check')" = ok ]
	fi
}

@test "sqlite: kill -9 of store put mid-stream loses nothing acked or passed on" {
	put_crash sqlite
}

@test "postgresql: kill -9 of store put mid-stream loses nothing acked or passed on" {
	put_crash pg
}

@test "SIGTERM: calls in flight finish, then exit 0; nothing acked is lost" {
	use sqlite
	serve "${DB[@]}"
	client load --clients 4 --puts 100000 --acked acked.ids --stop-on-error > load.json &
	cpid=$!
	echo "$cpid" >> pids
	wait_for sh -c '[ -f acked.ids ] && [ $(wc -l < acked.ids) -ge 500 ]'
	kill -TERM "$PID"
	st=0
	wait "$PID" || st=$?
	[ "$st" -eq 0 ]
	wait "$cpid"
	all_stored acked.ids
	[ "$(sqlite3 store.db 'PRAGMA integrity_check')" = ok ]
}

# ---- credentials ----------------------------------------------------------

@test "bearer token: missing or wrong is UNAUTHENTICATED and touches nothing" {
	use sqlite
	echo s3cret-token > token
	serve "${DB[@]}" --token-file token
	run client put --raw < ev.bin
	jsub "$(last)" '{"status":"UNAUTHENTICATED","details":"missing bearer token"}'
	run client put --raw --token wrong < ev.bin
	jsub "$(last)" '{"status":"UNAUTHENTICATED","details":"invalid bearer token"}'
	run client clean --token s3cret-tokenX
	jsub "$(last)" '{"status":"UNAUTHENTICATED"}'
	[ "$(count_rows)" = "0 0" ]
	run client put --raw --token s3cret-token < ev.bin
	[ "${lines[0]}" = '{"ackCount": 6}' ]
	# health needs no token (Kubernetes probes send none)
	run client health
	[ "${lines[0]}" = '{"health": "SERVING"}' ]
	# a new token in the file is used at once
	echo rotated > token.new && mv token.new token
	touch -d '+1 second' token
	run client get 1 --token s3cret-token
	jsub "$(last)" '{"status":"UNAUTHENTICATED"}'
	run client get 1 --token rotated
	[ "${lines[0]}" = '{"ids": ["1"]}' ]
	! grep -q s3cret server.err
}

@test "TLS, and client certificates: a wrong or missing one is refused" {
	use sqlite
	serve "${DB[@]}" --cert "$(PKI server.pem)" --key "$(PKI server.key)"
	run client put --raw --tls "$(PKI ca.pem)" < ev.bin
	[ "${lines[0]}" = '{"ackCount": 6}' ]
	run client get 1 --tls "$(PKI otherca.pem)"
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
	serve --name mtls "${DB[@]}" --cert "$(PKI server.pem)" \
	    --key "$(PKI server.key)" --client-ca "$(PKI ca.pem)"
	run client get 1 --tls "$(PKI ca.pem)" --cert "$(PKI client.pem)" --key "$(PKI client.key)"
	[ "${lines[0]}" = '{"ids": ["1"]}' ]
	run client get 1 --tls "$(PKI ca.pem)" --cert "$(PKI intruder.pem)" --key "$(PKI intruder.key)"
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
	run client get 1 --tls "$(PKI ca.pem)"
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
	run client get 1
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
}

# ---- hostile clients (issue 19) --------------------------------------------

flood() { "$PYTHON3" "$PEERS/conn_flood.py" "$@"; }

@test "idle connections cannot shut others out: at the cap the idlest makes room" {
	use sqlite
	serve -v "${DB[@]}" --max-connections 256
	# 300 connections that finish the HTTP/2 handshake and say nothing
	mkfifo hold
	flood idle "$PORT" 300 < hold > idle.out &
	echo $! >> pids
	exec 5> hold
	wait_for grep -q held idle.out
	# every well-behaved client is still served, at once
	run flood health "$PORT" 20 --timeout 10
	jsub "$output" '{"calls":20,"ok":20}'
	run client put --raw < ev.bin
	[ "${lines[0]}" = '{"ackCount": 6}' ]
	exec 5>&-
	wait_for grep -q open idle.out
	# the idle ones made room: a GOAWAY each, then closed
	"$PYTHON3" - "$(tail -1 idle.out)" <<-'END'
	import json, sys
	r = json.loads(sys.argv[1])
	made_room = r["goaway"].get("NO_ERROR max_connections", 0)
	assert made_room >= 44 + 20 and made_room == r["closed"], r
	assert set(r["goaway"]) == {"NO_ERROR max_connections"}, r
	END
	grep -q "closed to make room (256 open, the most)" server.err
}

@test "1000 health checks at once: every one answered" {
	use sqlite
	serve "${DB[@]}"
	run flood health "$PORT" 1000 --timeout 60
	echo "$output"
	jsub "$(last)" '{"calls":1000,"ok":1000}'
	# and through a small cap: connections take turns, none is dropped
	serve --name small "${DB[@]}" --max-connections 50
	run flood health "$PORT" 1000 --timeout 60
	echo "$output"
	jsub "$(last)" '{"calls":1000,"ok":1000}'
}

@test "--idle-timeout: a connection without calls gets GOAWAY max_idle; one with a call stays" {
	use sqlite
	serve -v "${DB[@]}" --idle-timeout 1s --max-connections 3
	flood watch "$PORT" 4 > watch.out &
	echo $! >> pids
	wait_for grep -q watching watch.out
	run flood idle "$PORT" 5 --hold 3
	jsub "$(last)" '{"held":5,"open":0,"closed":5,"goaway":{"NO_ERROR max_connections":3,"NO_ERROR max_idle":2}}'
	wait_for grep -q alive watch.out
	grep -q "closed after we sent GOAWAY NO_ERROR max_idle" server.err
	# every connection busy: a new one still gets SETTINGS and a GOAWAY
	for i in 1 2 3; do
		flood watch "$PORT" 4 > "watch$i.out" &
		echo $! >> pids
	done
	wait_for sh -c 'cat watch?.out | grep -c watching | grep -qx 3'
	run flood idle "$PORT" 1 --hold 1
	jsub "$(last)" '{"held":1,"open":0,"closed":1,"goaway":{"NO_ERROR max_connections":1}}'
	grep -q "refused: 3 open with calls, the most" server.err
	run --separate-stderr store serve "${DB[@]}" --max-connections 0
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "store: --max-connections 0: not a number from 1 to 100000" ]
}

@test "-v: a client that keeps pinging is named once, not once per ping" {
	use sqlite
	serve -v "${DB[@]}"
	run --separate-stderr "$PYTHON3" "$PEERS/h2peer.py" client "$PORT" pings:20
	jsub "$(printf '%s\n' "$output" | grep GOAWAY)" \
	    '{"type":"GOAWAY","last_stream":0,"error":11,"debug":"too_many_pings"}'
	wait_for grep -q "HTTP/2 error by the client: too_many_pings (we sent GOAWAY ENHANCE_YOUR_CALM)" server.err
	cat server.err
	[ "$(grep -c "too many pings" server.err)" -eq 1 ]
}

# ---- store serve as a service -----------------------------------------

@test "serve -l unix:PATH: refuses a file and a live server's socket, replaces a stale one" {
	use sqlite
	echo precious > notsock
	# exit-status: store 69
	run --separate-stderr store serve "${DB[@]}" -l "unix:$PWD/notsock"
	[ "$status" -eq 69 ]
	[ "$stderr" = "store: $PWD/notsock: exists and is not a socket; refusing to replace it" ]
	[ "$(cat notsock)" = precious ]
	store serve "${DB[@]}" -l "unix:$PWD/s.sock" > s1.out 2> s1.err &
	first=$!
	echo "$first" >> pids
	wait_for grep -q '^port ' s1.out
	run --separate-stderr store serve "${DB[@]}" -l "unix:$PWD/s.sock"
	[ "$status" -eq 69 ]
	[ "$stderr" = "store: $PWD/s.sock: a server is answering there" ]
	# the first server still answers there
	run "$PYTHON3" "$PEERS/store_client.py" "unix:$PWD/s.sock" put --raw < ev.bin
	echo "$output"
	[ "${lines[0]}" = '{"ackCount": 6}' ]
	# killed, it leaves a stale socket, which the next server replaces
	kill -KILL "$first"
	wait "$first" || true
	[ -S s.sock ]
	store serve "${DB[@]}" -l "unix:$PWD/s.sock" > s2.out 2> s2.err &
	echo "$!" >> pids
	wait_for grep -q '^port ' s2.out
	run "$PYTHON3" "$PEERS/store_client.py" "unix:$PWD/s.sock" get 1
	[ "${lines[0]}" = '{"ids": ["1"]}' ]
}

@test "sqlite: another process holding the write lock: health answers meanwhile, the put waits for it" {
	use sqlite
	store put "${DB[@]}" < ev.bin
	evcat -e <<-'END' > new.bin
	{"specversion":"1.0","id":"new","source":"/s","type":"t"}
	END
	serve "${DB[@]}" -v
	# the lock is held until the put has met it, then 1 s more
	"$PYTHON3" - store.db server.err > lock.out <<-'END' &
	import sqlite3, sys, time
	db = sqlite3.connect(sys.argv[1], isolation_level=None)
	db.execute("BEGIN EXCLUSIVE")
	print("locked", flush=True)
	end = time.monotonic() + 30
	while time.monotonic() < end:
	    if "locked by another process" in open(sys.argv[2]).read():
	        break
	    time.sleep(0.05)
	time.sleep(1)
	db.execute("COMMIT")
	print("released", flush=True)
	END
	echo "$!" >> pids
	wait_for grep -q locked lock.out
	client put --raw < new.bin > put.out &
	put=$!
	# grpc.health.v1 Check every 0.1 s while the lock is held: each
	# answered SERVING within 1 s
	"$PYTHON3" - "127.0.0.1:$PORT" lock.out <<-'END'
	import grpc, sys, time
	ch = grpc.insecure_channel(sys.argv[1], options=[("grpc.enable_http_proxy", 0)])
	check = ch.unary_unary("/grpc.health.v1.Health/Check",
	                       request_serializer=lambda b: b,
	                       response_deserializer=lambda b: b)
	end = time.monotonic() + 60
	while "released" not in open(sys.argv[2]).read():
	    assert time.monotonic() < end, "the lock was never released"
	    assert check(b"", timeout=1) == b"\x08\x01"  # SERVING
	    time.sleep(0.1)
	END
	wait "$put"
	grep -q released lock.out
	[ "$(head -n 1 put.out)" = '{"ackCount": 1}' ]
	[ "$(sqlite3 store.db 'SELECT count(*) FROM messages')" = 7 ]
}

@test "sqlite: health is NOT_SERVING while writes fail, SERVING once one succeeds" {
	use sqlite
	store put "${DB[@]}" < ev.bin
	# an event of 1 MiB, more than the files may grow (RLIMIT_FSIZE;
	# SIGXFSZ ignored, so the write fails with EFBIG): a full disk
	"$PYTHON3" - > big.bin <<-'END'
	import base64, json, subprocess, sys
	ev = {"specversion": "1.0", "id": "big", "source": "/s", "type": "t",
	      "data_base64": base64.b64encode(bytes(1 << 20)).decode()}
	sys.stdout.buffer.write(subprocess.run(["evcat", "-e"], check=True,
	    input=json.dumps(ev).encode(), capture_output=True).stdout)
	END
	evcat -e <<-'END' > small.bin
	{"specversion":"1.0","id":"small","source":"/s","type":"t"}
	END
	: > server.out
	(trap '' XFSZ; ulimit -f 512; exec store serve "${DB[@]}" -l grpc://127.0.0.1:0 > server.out 2> server.err) &
	echo "$!" >> pids
	wait_for grep -q '^port ' server.out
	PORT=$(sed -n 's/^port //p' server.out)
	run client health
	[ "${lines[0]}" = '{"health": "SERVING"}' ]
	run client put --raw < big.bin
	jsub "$(last)" '{"status":"INTERNAL"}'
	for s in "" awakari.messages.Service awakari.messages.cleaner.Service; do
		run client health --service "$s"
		[ "${lines[0]}" = '{"health": "NOT_SERVING"}' ]
	done
	grep -q "writes fail" server.err
	# reads go on meanwhile
	run client get 1
	[ "${lines[0]}" = '{"ids": ["1"]}' ]
	run client put --raw < small.bin
	[ "${lines[0]}" = '{"ackCount": 1}' ]
	run client health
	[ "${lines[0]}" = '{"health": "SERVING"}' ]
	grep -q "writes succeed again" server.err
	[ "$(sqlite3 store.db 'SELECT group_concat(id) FROM messages WHERE id IN ("big", "small")')" = small ]
}

@test "reflection needs the token, like every call but health" {
	use sqlite
	echo s3cret-token > token
	serve "${DB[@]}" --token-file token
	"$PEERS/gen" "$BATS_TEST_TMPDIR/rpy"
	reflect() {
		"$PYTHON3" "$PEERS/reflect_client.py" "127.0.0.1:$PORT" \
		    --pyout "$BATS_TEST_TMPDIR/rpy" "$@"
	}
	for v in --v1alpha ""; do
		run reflect $v list
		jsub "$(last)" '{"status":"UNAUTHENTICATED","details":"missing bearer token"}'
		run reflect $v --token wrong list
		jsub "$(last)" '{"status":"UNAUTHENTICATED","details":"invalid bearer token"}'
		run reflect $v --token s3cret-token list
		jsub "${lines[0]}" '{"services": ["awakari.messages.Service", "awakari.messages.cleaner.Service", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]}'
		jsub "$(last)" '{"status":"OK"}'
	done
	# an unknown method says nothing to a caller without the token
	run client raw /awakari.messages.Service/Nope ""
	jsub "$(last)" '{"status":"UNAUTHENTICATED"}'
	run client health
	[ "${lines[0]}" = '{"health": "SERVING"}' ]
	! grep -q s3cret server.err
}

@test "serve's metrics: calls by method and status, events, write failures, last write; parsed by prometheus_client" {
	use sqlite
	EVPIPE_METRICS_FILE=$PWD/m.prom serve "${DB[@]}"
	run client put --raw < ev.bin
	[ "${lines[0]}" = '{"ackCount": 6}' ]
	run client get 1 2 nope
	[ "${lines[0]}" = '{"ids": ["1", "2"]}' ]
	run client delete 3 nope
	[ "${lines[0]}" = '{"ackCount": 1}' ]
	run client raw /awakari.messages.Service/PutBatch 0a02ffff
	jsub "$(last)" '{"status":"INVALID_ARGUMENT"}'
	kill -TERM "$PID"
	wait "$PID"
	"$PYTHON3" - m.prom <<-'END'
	import sys
	from prometheus_client.parser import text_string_to_metric_families
	text = open(sys.argv[1]).read()
	fams = {f.name: f for f in text_string_to_metric_families(text)}
	def value(family, labels={}):
	    for s in fams[family].samples:
	        if all(s.labels.get(k) == v for k, v in labels.items()):
	            return s.value
	    raise SystemExit("no %s %s in\n%s" % (family, labels, text))
	req = "evpipe_store_requests"
	assert fams[req].type == "counter"
	assert value(req, {"tool": "store", "method": "PutBatch", "code": "OK"}) == 1
	assert value(req, {"method": "PutBatch", "code": "INVALID_ARGUMENT"}) == 1
	assert value(req, {"method": "GetBatch", "code": "OK"}) == 1
	assert value(req, {"method": "DeleteBatch", "code": "OK"}) == 1
	assert value("evpipe_store_events_put") == 6
	assert value("evpipe_store_events_got") == 2
	assert value("evpipe_store_events_deleted") == 1
	assert value("evpipe_store_write_failures") == 0
	assert fams["evpipe_store_last_write_timestamp_seconds"].type == "gauge"
	assert value("evpipe_store_last_write_timestamp_seconds") > 1.7e9
	END
}

@test "serve --http: health over HTTP (200 SERVING) and GET /metrics, parsed by prometheus_client; a bad address is 64" {
	use sqlite
	serve "${DB[@]}" --http 127.0.0.1:0 --grace 30s
	HTTP=$(sed -n 's/^http port //p' server.out)
	[ -n "$HTTP" ]
	run client put --raw < ev.bin
	[ "${lines[0]}" = '{"ackCount": 6}' ]
	"$PYTHON3" - "$HTTP" <<-'END'
	import sys, urllib.request
	from prometheus_client.parser import text_string_to_metric_families
	base = "http://127.0.0.1:%s" % sys.argv[1]
	r = urllib.request.urlopen(base + "/health", timeout=10)
	assert r.status == 200 and r.read() == b'{"status":"SERVING"}'
	r = urllib.request.urlopen(base + "/metrics", timeout=10)
	assert r.headers["Content-Type"].startswith("text/plain")
	fams = {f.name: f for f in
	        text_string_to_metric_families(r.read().decode())}
	put = [s.value for s in fams["evpipe_store_events_put"].samples
	       if s.labels.get("tool") == "store"]
	assert put == [6], put
	END
	# exit-status: store 64
	run -64 --separate-stderr store serve "${DB[@]}" --http 127.0.0.1:x
	[ "${stderr_lines[0]}" = "store: --http 127.0.0.1:x: not [ADDR:]PORT" ]
}
