#!/usr/bin/env bats
# The chaos test (issue 14; tests/chaos/README): each acknowledged
# pipeline of evpipe.7 runs under a supervisor while its stages and the
# peer servers are killed with SIGKILL at random, then calms down; the
# peers' own records must show that nothing acknowledged was lost and
# that everything arrived in the end.
#
# A short run each (a few seconds of chaos, stretched when the tools are
# built with sanitizers); EVPIPE_CHAOS_SECONDS=600 makes a long one.
# The seed is random and printed; EVPIPE_CHAOS_SEED=N replays one (or
# run tests/chaos/run --pipeline NAME --seed N --seconds S by hand).

load helpers

setup_file() {
	export CHAOS_SEED=${EVPIPE_CHAOS_SEED:-$(((RANDOM << 15) | RANDOM))}
	export CHAOS_SECONDS=${EVPIPE_CHAOS_SECONDS:-3}
	# The driver compiles the Python modules there once for every test.
	export CHAOS_PYOUT=$BATS_FILE_TMPDIR/py
}

setup() {
	setup_tmp
	CHAOS_PID=
}

teardown() {
	# Everything the driver started is in its session (timeout makes a
	# process group of its own in it), and dies with the driver anyway:
	# nothing outlives a test, whatever happened.
	if [ -n "$CHAOS_PID" ]; then
		pkill -KILL -s "$CHAOS_PID" 2>/dev/null || true
	fi
}

# chaos PIPELINE [OPTION...]: one run of the driver, in a session of its
# own, under timeout; then no process of that session may be left.
# Sets $status and $output; passes when the driver's exit status is
# $want (default 0).
chaos() {
	local bound=$((120 + 3 * ${CHAOS_SECONDS%.*})) name=$1
	shift
	[ -n "${EVPIPE_SANITIZERS:-}" ] && bound=$((bound * 3))
	echo "# $name: seed $CHAOS_SEED" >&3
	setsid timeout -k 10 "$bound" "$PYTHON3" \
	    "$EVPIPE_SRCDIR/tests/chaos/run" --pipeline "$name" \
	    --seed "$CHAOS_SEED" --seconds "$CHAOS_SECONDS" \
	    --dir "$BATS_TEST_TMPDIR/$name" --pyout "$CHAOS_PYOUT" "$@" \
	    > out.txt 2>&1 &
	CHAOS_PID=$!
	status=0
	wait "$CHAOS_PID" || status=$?
	output=$(cat out.txt)
	echo "$output"
	grep "verdict=" out.txt | sed 's/^/# /' >&3
	if pgrep -s "$CHAOS_PID" > left.txt; then
		echo "left running:"
		ps -o pid,args -p "$(paste -sd, left.txt)"
		return 1
	fi
	[ "$status" -eq "${want:-0}" ]
}

@test "chaos: EngFlow queue -> resolve -> forward --protocol demo" {
	chaos demo
}

@test "chaos: EngFlow queue -> resolve -> evjq dropping half -> forward --protocol demo" {
	chaos evjq
}

@test "chaos: EngFlow queue -> resolve -> store put --tee -> forward --protocol bes" {
	chaos bes
}

@test "chaos: EngFlow queue -> resolve -> forward --protocol store -> store serve" {
	chaos store-serve
}

@test "chaos: Axway watch -> resolve --api axway -> store put" {
	chaos axway
}

@test "chaos: EngFlow queue -> pack-run --tee -> store put, Flyte events" {
	chaos pack-run
}

@test "chaos: the test fails a stage that acknowledges early, or what it dropped" {
	# tests/chaos/liar before the last stage acknowledges every third
	# event itself, then passes it on without its evpipeack (early) or
	# drops it: the checks must see it.
	CHAOS_SECONDS=1
	want=1 chaos demo --sabotage early
	[[ "$output" == *"verdict=FAIL"* ]]
	[[ "$output" == *"FAIL: acknowledged notification "*" arrived only after the ack"* ]]
	want=1 chaos axway --sabotage drop
	[[ "$output" == *"FAIL: subscribe's --state passed sequence ids whose resource is not in the store: "*": missing"* ]]
}
