#!/usr/bin/env bats
# scripts/demo, README's first command: the whole system on loopback.
# Small sizes here; the checks inside the demo are the test (its counts
# must add up), and nothing it started may be left running.

load helpers

setup() {
	setup_tmp
}

@test "the demo runs every stage, the counts add up, nothing is left running" {
	run --separate-stderr env DEMO_BUILD=no DEMO_BIN="$EVPIPE_BUILDDIR/bin" \
	    DEMO_DIR="$BATS_TEST_TMPDIR/w" DEMO_INVOCATIONS=3 DEMO_EVENTS=50 \
	    DEMO_ACTIONS=2 "$EVPIPE_SRCDIR/scripts/demo"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "demo: ok: 150 events through five stages, every notification acked" ]
	# every stage showed its total at -v
	grep -q '^subscribe: 3 events' <<< "$stderr"
	grep -q '^resolve: 150 events' <<< "$stderr"
	grep -q '^store: 150 events stored' <<< "$stderr"
	grep -q '^forward: 150 events delivered' <<< "$stderr"
	grep -q '^pack-run: 2 actions handled' <<< "$stderr"
	grep -q '^pack-run: 3 events posted' <<< "$stderr"
	# the JSON view of stored events
	grep -q '^{"specversion":"1.0","id":"inv-001/1",' <<< "$stderr"
	# nothing of it still runs
	! pgrep -f "$BATS_TEST_TMPDIR/w" > /dev/null
}
