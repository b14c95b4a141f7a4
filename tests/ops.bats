#!/usr/bin/env bats
# Running evpipe as a service: log formats for collectors, metrics in
# the Prometheus text format (checked by python3-prometheus-client's
# parser), SIGUSR1, the systemd unit and the tmpfiles.d entry.

load helpers

setup() {
	setup_tmp
}

teardown() {
	[ -z "${bg:-}" ] || kill "$bg" 2>/dev/null || true
}

@test "EVPIPE_LOG_FORMAT: plain is today's line, the default" {
	run -64 forward --no-such-option
	[ "${lines[0]}" = "forward: unknown option --no-such-option" ]
	EVPIPE_LOG_FORMAT=plain run -64 forward --no-such-option
	[ "${lines[0]}" = "forward: unknown option --no-such-option" ]
}

@test "EVPIPE_LOG_FORMAT: level, time and journald prefixes" {
	EVPIPE_LOG_FORMAT=level run -64 forward --no-such-option
	[ "${lines[0]}" = "forward: error: unknown option --no-such-option" ]
	EVPIPE_LOG_FORMAT=journald run -64 forward --no-such-option
	[ "${lines[0]}" = "<3>forward: unknown option --no-such-option" ]
	EVPIPE_LOG_FORMAT=time run -64 forward --no-such-option
	[[ "${lines[0]}" =~ ^20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\.[0-9]{3}Z\ forward\[[0-9]+\]:\ error:\ unknown\ option\ --no-such-option$ ]]
	# A warning has its own level and priority.
	evcat -e < "$DATA/events.jsonl" > ev.pb
	EVPIPE_LOG_FORMAT=journald run -0 --separate-stderr \
	    forward --token=secret -n --to grpc://127.0.0.1:1 < ev.pb
	[[ "$stderr" == "<4>forward: a token on the command line is visible"* ]]
	EVPIPE_LOG_FORMAT=level run -0 --separate-stderr \
	    forward --token=secret -n --to grpc://127.0.0.1:1 < ev.pb
	[[ "$stderr" == "forward: warning: a token on the command line is visible"* ]]
}

@test "EVPIPE_LOG_FORMAT: an unknown format is a usage error" {
	EVPIPE_LOG_FORMAT=fancy run -64 evcat < /dev/null
	[ "$output" = "evcat: EVPIPE_LOG_FORMAT: unknown format fancy (plain, level, time or journald)" ]
}

# Wait until file f has a line matching pattern p (at most ~20 s).
wait_for() {
	local i
	for i in $(seq 200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "timed out waiting for $2 in $1" >&2
	cat "$1" >&2 2>/dev/null
	return 1
}

@test "metrics: the textfile collector's file, parsed by prometheus_client" {
	evcat -e < "$DATA/events.jsonl" > ev.pb
	n=$(wc -l < "$DATA/events.jsonl")
	mkfifo in
	EVPIPE_METRICS_FILE=$PWD/m.prom EVPIPE_METRICS_NAME=test-1 \
	    store put -d db.sqlite < in 2> err &
	bg=$!
	exec 7> in
	cat ev.pb >&7
	wait_for m.prom "evpipe_records_in_total{tool=\"store\",name=\"test-1\"} $n"
	"$PYTHON3" - m.prom "$n" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
fams = {f.name: f for f in text_string_to_metric_families(text)}
n = float(sys.argv[2])
def value(family, sample, labels):
    for s in fams[family].samples:
        if s.name == sample and all(s.labels.get(k) == v
                                    for k, v in labels.items()):
            return s.value
    raise SystemExit("no sample %s %s in\n%s" % (sample, labels, text))
assert fams["evpipe_records_in"].type == "counter", fams["evpipe_records_in"]
assert value("evpipe_records_in", "evpipe_records_in_total",
             {"tool": "store", "name": "test-1"}) == n
assert fams["evpipe_start_time_seconds"].type == "gauge"
assert value("evpipe_progress", "evpipe_progress_total",
             {"what": "events stored"}) == n
PY
	# SIGUSR1: the same counters on stderr; the tool goes on.
	kill -USR1 "$bg"
	wait_for err "store: metrics: evpipe_records_in_total"
	grep -q "^store: metrics: evpipe_progress_total{tool=\"store\",name=\"test-1\",what=\"events stored\"} $n\$" err
	exec 7>&-
	wait "$bg"
	bg=
	# Written once more at the end; no temporary file left behind.
	grep -q "^evpipe_last_progress_timestamp_seconds{.*} [1-9]" m.prom
	[ "$(ls | grep -c tmp)" = 0 ]
}

@test "metrics: a file that cannot be written is a warning, not a stop" {
	evcat -e < "$DATA/events.jsonl" > ev.pb
	EVPIPE_METRICS_FILE=/nonexistent/dir/m.prom run -0 --separate-stderr \
	    store put -d db.sqlite < ev.pb
	[[ "$stderr" == *"store: /nonexistent/dir/m.prom: No such file or directory (metrics not written)"* ]]
	[ "$(grep -c 'metrics not written' <<< "$stderr")" = 1 ]
}

@test "systemd: the unit passes systemd-analyze verify" {
	unit=$EVPIPE_BUILDDIR/systemd/evpipe@.service
	[ -f "$unit" ]
	! grep -q '@bindir@' "$unit"
	mkdir units
	cp "$unit" units/
	run systemd-analyze verify --man=no "$PWD/units/evpipe@demo.service"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	grep -q '^Restart=always$' "$unit"
	grep -q '^DynamicUser=yes$' "$unit"
	grep -q '^ProtectSystem=strict$' "$unit"
}

@test "systemd: the tmpfiles.d entry makes /run/evpipe" {
	run systemd-tmpfiles --create --root="$PWD/root" \
	    "$EVPIPE_SRCDIR/systemd/evpipe.conf"
	[ "$status" -eq 0 ]
	[ "$(stat -c %a root/run/evpipe)" = 755 ]
	[ "$(stat -c %a root/run/evpipe/metrics)" = 1777 ]
}

@test "make install: the unit, the tmpfiles.d entry and the licence" {
	make -s -C "$EVPIPE_BUILDDIR" install DESTDIR="$PWD/dest" \
	    prefix=/usr/local >/dev/null
	[ -f dest/usr/local/lib/systemd/system/evpipe@.service ]
	[ -f dest/usr/local/lib/tmpfiles.d/evpipe.conf ]
	[ -f dest/usr/local/share/doc/evpipe/LICENSE ]
	grep -q '^Environment=PATH=/usr/local/bin:' \
	    dest/usr/local/lib/systemd/system/evpipe@.service
	cmp "$EVPIPE_SRCDIR/LICENSE" dest/usr/local/share/doc/evpipe/LICENSE
}

@test "evpipe.7: the crontab is valid: one line per job, PATH set, bounded" {
	sed -n '/^PATH=\/usr\/local\/bin/,/^\.Ed/p' \
	    "$EVPIPE_SRCDIR/man/evpipe.7" | sed '$d' > crontab
	cat crontab
	[ "$(wc -l < crontab)" -ge 3 ]
	! grep -q '\\$' crontab
	! grep -q '\\e$' crontab
	field='(\*|[0-9]+)(-[0-9]+)?(/[0-9]+)?(,[0-9]+)*'
	while IFS= read -r line; do
		[[ "$line" =~ ^[A-Z_]+= ]] && continue
		[[ "$line" =~ ^$field\ $field\ $field\ $field\ $field\ [^\ ] ]]
	done < crontab
	grep -q '^PATH=' crontab
	grep -q 'flock -n .* timeout ' crontab
}

@test "retries: reconnected after N failed attempts, told at the default level" {
	export FWD_PYOUT=$BATS_TEST_TMPDIR/py
	"$PEERS/gen-forward" "$FWD_PYOUT"
	evcat -e < "$DATA/events.jsonl" > ev.pb
	port=$("$PYTHON3" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	# The sink comes up a second after forward starts failing.
	(sleep 1.5; PYTHONPATH=$FWD_PYOUT exec "$PYTHON3" \
	    "$PEERS/demo_sink.py" --port "$port" --log sink.log \
	    > sink.out 2> sink.err) &
	bg=$!
	EVPIPE_RETRY_INITIAL_MS=20 EVPIPE_LOG_FORMAT=level run -0 \
	    --separate-stderr timeout 60 forward --protocol demo \
	    --to "grpc://127.0.0.1:$port" < ev.pb
	echo "$stderr"
	# The first failure, then (within 30 s) nothing until it answers.
	[ "$(wc -l <<< "$stderr")" -eq 2 ]
	[[ "${stderr%%$'\n'*}" =~ ^forward:\ warning:\ grpc://127.0.0.1:$port:\ .*UNAVAILABLE:.*\;\ retrying\ in\ [0-9]+ms$ ]]
	[[ "$stderr" =~ $'\n'forward:\ notice:\ grpc://127.0.0.1:$port:\ reconnected\ after\ [0-9]+\ attempts,\ [0-9.]+m?s$ ]]
	[ "$(grep -c "\"payload\"" sink.log)" -eq "$(wc -l < "$DATA/events.jsonl")" ]
}

@test "a stage says when its reader has taken nothing for EVPIPE_WAIT_WARN s, and when it takes again" {
	"$PYTHON3" -c '
import json
for i in range(4000):
    print(json.dumps({"specversion": "1.0", "id": "e%d" % i, "source": "/t",
                      "type": "t", "data": {"pad": "x" * 400}}))' |
	    evcat -e > many.pb
	EVPIPE_WAIT_WARN=1 EVPIPE_LOG_FORMAT=level \
	    store put --tee -d db.sqlite < many.pb 2> err |
	    { # the reader starts once the stall was told (at most 30 s)
	      for i in $(seq 300); do
	        grep -q 'holding the input back' err && break
	        sleep 0.1
	      done
	      cat > out.pb; }
	cat err
	grep -q '^store: warning: stdout: the reader has taken nothing for [0-9.]*s; holding the input back$' err
	grep -q '^store: notice: stdout: the reader takes records again, after [0-9.]*s$' err
	cmp many.pb out.pb
}
