#!/usr/bin/env bats
# The fuzzers' harnesses (tests/fuzz/fuzz_*.c) in every build: each one
# replays its seed corpus (tests/fuzz/seeds) and the inputs that once
# broke it (tests/fuzz/regress/NAME), through tests/fuzz/replay.c's
# plain main; under ASan and UBSan in the sanitize build.  The fuzzing
# itself is tests/fuzz/run in the fuzz build.

load helpers

setup() {
	setup_tmp
}

replay() { # replay NAME: its seeds and regression inputs, each must pass
	local name=$1 bin="$EVPIPE_BUILDDIR/tests/fuzz/replay_$1"
	[ -x "$bin" ] || skip "no replay_$name in a libFuzzer build"
	mkdir -p corpus
	evcat -e "$DATA/events.jsonl" > corpus/events.bin
	"$PYTHON3" "$EVPIPE_SRCDIR/tests/fuzz/seeds" corpus "$EVPIPE_SRCDIR"
	local inputs=(corpus/"$name"/*)
	if [ -d "$EVPIPE_SRCDIR/tests/fuzz/regress/$name" ]; then
		inputs+=("$EVPIPE_SRCDIR/tests/fuzz/regress/$name"/*)
	fi
	run --separate-stderr "$bin" "${inputs[@]}"
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq "${#inputs[@]}" ]
}

@test "fuzz seeds and regressions: frames and CloudEvents" { replay frame; }
@test "fuzz seeds and regressions: JSON lines" { replay json; }
@test "fuzz seeds and regressions: gRPC message framing" { replay grpcwire; }
@test "fuzz seeds and regressions: pack file" { replay pack; }
@test "fuzz seeds and regressions: durations, targets, RFC 3339" { replay scalars; }
@test "fuzz seeds and regressions: Axway harvester pages" { replay harvester; }
@test "fuzz seeds and regressions: lifecycle notifications" { replay lifecycle; }
@test "fuzz seeds and regressions: JWT claims" { replay jwt; }
@test "fuzz seeds and regressions: state file" { replay statefile; }
@test "fuzz seeds and regressions: handler output and JSON lines" { replay handler; }
@test "fuzz seeds and regressions: HTTP/2 gRPC server" { replay h2server; }
@test "fuzz seeds and regressions: HTTP/2 gRPC client" { replay h2client; }
@test "fuzz seeds and regressions: store serve requests" { replay storesvc; }
@test "fuzz seeds and regressions: event store stream" { replay eventstore; }
@test "fuzz seeds and regressions: Flyte API answers" { replay flyte; }
@test "fuzz seeds and regressions: pack-run's spool" { replay spool; }
