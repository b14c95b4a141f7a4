#!/usr/bin/env bats
# evjq: a jq program over each event, keeping the acknowledgement.

load helpers

setup() {
	setup_tmp
	# three events with acks: keep, drop, keep; and one without an ack
	printf '%s\n' \
	    '{"specversion":"1.0","id":"1","source":"/s","type":"keep","data":{"v":1},"evpipeack":"a1"}' \
	    '{"specversion":"1.0","id":"2","source":"/s","type":"drop","data":{"v":2},"evpipeack":"a2"}' \
	    '{"specversion":"1.0","id":"3","source":"/s","type":"keep","data":{"v":3},"evpipeack":"a3"}' \
	    '{"specversion":"1.0","id":"4","source":"/s","type":"drop","data":{"v":4}}' |
	    evcat -e > in.bin
}

# wait_for CMD...: poll until CMD succeeds, up to 30 s.
wait_for() {
	local i
	for i in $(seq 300); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

@test "an event the program passes unchanged is written with its own bytes" {
	evcat -e "$DATA/man/notification.jsonl" > n.bin
	evjq . < n.bin > out.bin
	cmp n.bin out.bin
	evjq 'select(.type == "keep")' < in.bin > out.bin
	# the kept events are the input's records, byte for byte
	evcat -e <(evcat in.bin | sed -n '1p;3p') > kept.bin
	evcat -e <(evcat out.bin | sed -n '1p;3p') | cmp - kept.bin
	# the marker in input order, between them
	[ "$(evcat -f '%id %type %{evpipeack}\n' out.bin)" = "$(printf '1 keep a1\n2 dev.evpipe.ack a2\n3 keep a3')" ]
}

@test "a dropped event with an ack leaves an ack-only marker in its place; one without leaves nothing" {
	evjq 'select(.type == "keep")' < in.bin | evcat > got
	cat got
	[ "$(sed -n 2p got)" = '{"specversion":"1.0","id":"2","source":"/s","type":"dev.evpipe.ack","evpipeack":"a2"}' ]
	[ "$(wc -l < got)" -eq 3 ]
	[ "$(evjq 'empty' < in.bin | evcat -f '%type %{evpipeack}\n')" = "$(printf 'dev.evpipe.ack a%d\n' 1 2 3)" ]
}

@test "an ack-only marker on input goes on as it is, in its place: the program does not see it" {
	evjq 'select(.type == "keep")' < in.bin > mid.bin
	evjq '.type = "changed" | .id += "x"' < mid.bin > out.bin
	[ "$(evcat -f '%id %type %{evpipeack}\n' out.bin)" = "$(printf '1x changed a1\n2 dev.evpipe.ack a2\n3x changed a3')" ]
	evcat -e <(evcat mid.bin | sed -n 2p) > want.bin
	evcat -e <(evcat out.bin | sed -n 2p) | cmp - want.bin
	# also from a program that drops everything: one marker, not two
	[ "$(evjq empty < mid.bin | evcat -f '%{evpipeack} ')" = "a1 a2 a3 " ]
}

@test "several outputs for one input: the ack goes on the last only, also when the program copies it" {
	evjq '., (.id += "b"), (.id += "c")' < in.bin |
	    evcat -f '%id [%{evpipeack}]\n' > got
	cat got
	[ "$(head -3 got)" = "$(printf '1 []\n1b []\n1c [a1]')" ]
	[ "$(sed -n 4,6p got)" = "$(printf '2 []\n2b []\n2c [a2]')" ]
	[ "$(sed -n 10,12p got)" = "$(printf '4 []\n4b []\n4c []')" ]
}

@test "forward and store put count a marker as handled: every ack, in order, nothing delivered or stored for it" {
	evjq 'select(.type == "keep")' < in.bin > mid.bin
	: > f.acks
	run forward -n --acked-to f.acks < mid.bin
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^id: ' <<< "$output")" -eq 2 ]
	[ "$(cat f.acks)" = "$(printf 'a%d\n' 1 2 3)" ]
	: > s.acks
	store put -d s.db --acked-to s.acks < mid.bin
	[ "$(cat s.acks)" = "$(printf 'a%d\n' 1 2 3)" ]
	[ "$(store scan -d s.db | evcat -f '%id\n')" = "$(printf '1\n3')" ]
	# --tee passes the marker on, for a last stage after it
	store put -d t.db --tee < mid.bin | cmp - mid.bin
}

@test "select by attributes is decided without jq's interpreter, with jq's meaning (every output byte the same)" {
	# events whose JSON forms differ in every way a comparison can see:
	# typed extensions (number, boolean, timestamp, binary), absent
	# members, escapes, protobuf and text data, the evpipetypes hint
	{
		cat "$DATA/events.jsonl"
		printf '%s\n' \
		    '{"specversion":"1.0","id":"7","source":"/s","type":"keep","count":3,"flag":true,"when":"2026-01-01T00:00:00Z","blob":"AAE=","evpipetypes":"when=Timestamp,blob=Binary","evpipeack":"a7"}' \
		    '{"specversion":"1.0","id":"/s","source":"/s","type":"ké\"ep","count":-1,"flag":false,"data":{"v":1}}' \
		    '{"specversion":"1.0","id":"9","source":"/s","type":"drop","count":30,"data":"3","evpipeack":"a9"}'
	} | evcat -e > typed.bin
	cat typed.bin in.bin > all.bin
	progs=(
		'select(.type == "keep")'
		'select(.type != "keep")'
		'select("keep" == .type)'
		' select ( .type=="keep"and.source=="/s" ) '
		'select(.type == "drop" or .id == "1")'
		'select(.type == "a" or .type == "keep" and .id == "7")'
		'select((.type == "drop" or .type == "keep") and .id == "7")'
		'select(.nosuch == null)'
		'select(.nosuch != null or .subject == null)'
		'select(.count == 3)'
		'select(.count == 3.0 or .count == 3e1 or .count == 0.3E+2)'
		'select(.count == "3")'
		'select(.flag == true)'
		'select(.flag == false or .flag != null)'
		'select(.when == "2026-01-01T00:00:00Z")'
		'select(.blob == "AAE=")'
		'select(.id == .source)'
		'select(.data == .data)'
		'select(.data == null)'
		'select(.data == "3")'
		'select(."type" == "keep")'
		'select(.type == "k\u00e9\"ep")'
		'select(.type == "kéé\"ep")'
		'select(1 == 1)'
		'select(.type == 1)'
		'select(.evpipetypes == "when=Timestamp,blob=Binary")'
		'select(.datacontenttype == "application/protobuf")'
		'select(.evpipeack == "a7" or .evpipeack == "a9")'
	)
	near=(
		'select(.data.v == 1)'
		'select(.type | startswith("k"))'
		'select(.type == "keep") | .id'
		'select(.type == "k\("e")ep")'
		'select(.count == -1)'
		'select(.type == $t)'
		'select(.type == "keep") # a comment'
		'select(.type == "keep"),.'
		'select(.type? == "keep")'
	)
	for p in "${progs[@]}" "${near[@]}"; do
		echo "program: $p"
		evjq --arg t keep "$p" < all.bin > fast.bin && fast=0 || fast=$?
		EVPIPE_JQ_INTERPRET=1 evjq --arg t keep "$p" < all.bin > jq.bin &&
		    jq=0 || jq=$?
		cmp fast.bin jq.bin
		[ "$fast" = "$jq" ]
		evcat -f '%id ' fast.bin; echo
	done
	# the first list is decided without jq, the second by jq
	for p in "${progs[@]}"; do
		evjq -v "$p" < in.bin 2>&1 > /dev/null | grep -q "decided without jq's interpreter" || { echo "not decided: $p"; false; }
	done
	for p in "${near[@]}"; do
		! evjq -v --arg t keep "$p" < in.bin 2>&1 > /dev/null | grep -q "decided without"
	done
	# and they do decide: kept, dropped (ack-only markers) as jq does
	[ "$(evjq 'select(.count == 3 or .flag == false)' < typed.bin | evcat -f '%id %type\n')" = "$(printf '7 keep\n/s ké"ep\n9 dev.evpipe.ack')" ]
}

@test "an event the program changes is what evcat | jq -c | evcat -e makes of it, byte for byte" {
	# events with JSON data
	{
		head -1 "$DATA/events.jsonl"
		evcat in.bin
	} | evcat -e > json.bin
	progs=(
		'.data = {"s": "\u007f\u0001\u001f\u0080é\"\\/\t\b\f\r\n😀", "n": [1.5, 1e300, 100000000000000000000, 0.1, -0, 3.0, 1e15, 1e16, 999999999999999, -12, 123456789012345678, 1e-7]}'
		'.extra = "x" | .id += "-2"'
		'.data = [[{}], [], {"b": 1, "a": [null, true, false]}]'
		'.data |= tostring'
		'del(.data)'
	)
	for p in "${progs[@]}"; do
		echo "program: $p"
		evjq "$p" < json.bin > ours.bin
		evcat < json.bin | jq -c "$p" | evcat -e > chain.bin
		cmp ours.bin chain.bin
	done
}

@test "protobuf data is seen decoded and encoded again; JSON data keeps its numbers" {
	evcat -e "$DATA/man/notification.jsonl" > n.bin
	evjq 'select(.data.payload.invocationFinished.invocationId == "4a1e6f3c-2d7b-4c8e-9f0a-5b6c7d8e9f01")' < n.bin | cmp - n.bin
	[ -z "$(evjq 'select(.data.payload.invocationFinished == null)' < n.bin | evcat)" ]
	evjq '.subject = "s"' < n.bin | evcat -f '%datacontenttype %dataschema\n' > got
	[ "$(cat got)" = "$(evcat -f '%datacontenttype %dataschema\n' n.bin)" ]
	[ "$(evjq '.subject = "s"' < n.bin | evcat --data=json -f '%data\n')" = "$(evcat --data=json -f '%data\n' n.bin)" ]
	printf '%s\n' '{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"n":12345678901234567890,"f":0.1000000000000000055511151231257827}}' |
	    evcat -e > big.bin
	[ "$(evjq '.subject = "x"' < big.bin | evcat -f '%data\n')" = '{"n":12345678901234567890,"f":0.1000000000000000055511151231257827}' ]
}

@test "--arg, --argjson, \$ARGS and -f as jq has them" {
	echo 'select(.data.v >= $min) | .subject = $who' > prog.jq
	run bash -c "evjq --argjson min 3 --arg who me -f prog.jq < in.bin | evcat -f '%id %subject\n'"
	[ "$output" = "$(printf '1 \n2 \n3 me\n4 me')" ]
	[ "$(evjq --arg a x '.subject = $ARGS.named.a' < in.bin | evcat -f '%subject\n' | sort -u)" = x ]
}

@test "a program error names the record and stops with 65, after the events before it" {
	# exit-status: evjq 65
	run bash -c 'evjq "if .id == \"3\" then error(\"boom\") else . end" < in.bin > out.bin'
	[ "$status" -eq 65 ]
	[ "$output" = "evjq: stdin: record 3: jq: error: boom" ]
	[ "$(evcat -f '%id\n' out.bin)" = "$(printf '1\n2')" ]
	run bash -c 'evjq "\"not an event\"" < in.bin > out.bin'
	[ "$status" -eq 65 ]
	[[ "$output" == "evjq: stdin: record 1: an output is not an event: "* ]]
	run bash -c 'evjq "del(.source)" < in.bin > out.bin'
	[ "$status" -eq 65 ]
	[[ "$output" == "evjq: stdin: record 1: an output is not an event: "*source* ]]
	[ ! -s out.bin ]
}

@test "bad input: a truncated record and a record that is no CloudEvent stop with 65" {
	# exit-status: evjq 65
	head -c 20 in.bin > trunc.bin
	run bash -c 'evjq . < trunc.bin > out.bin'
	[ "$status" -eq 65 ]
	[[ "$output" == "evjq: stdin: record 1 at byte 0: truncated record ("* ]]
	printf '\003\377\377\377' > junk.bin
	run bash -c 'evjq . < junk.bin > out.bin'
	[ "$status" -eq 65 ]
	[[ "$output" == "evjq: stdin: record 1: "* ]]
}

@test "--dead-letter: a failing input goes to the file, synced, its ack on a marker, and the rest goes on" {
	run bash -c 'evjq --dead-letter dl.bin "if .id == \"2\" then error(\"boom\") else . end" < in.bin > out.bin'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "evjq: stdin: record 2: jq: error: boom; to dl.bin" ]
	[ "$(evcat -f '%id %type %{evpipeack}\n' dl.bin)" = "2 drop a2" ]
	[ "$(evcat -f '%id %type %{evpipeack}\n' out.bin)" = "$(printf '1 keep a1\n2 dev.evpipe.ack a2\n3 keep a3\n4 drop ')" ]
}

@test "bad usage: no program, a program that does not compile, bad --argjson" {
	# exit-status: evjq 64
	run evjq
	[ "$status" -eq 64 ]
	run bash -c 'evjq "select(" < in.bin > out.bin'
	[ "$status" -eq 64 ]
	[[ "$output" == "evjq: "*"syntax error"* ]]
	run bash -c 'evjq --argjson x "{" . < in.bin > out.bin'
	[ "$status" -eq 64 ]
	[[ "$output" == "evjq: --argjson x: "* ]]
	run bash -c 'evjq -f /nonexistent/prog.jq < in.bin > out.bin'
	[ "$status" -eq 74 ]
}

@test "a full stdout is 74; a reader that goes away is a quiet stop" {
	# exit-status: evjq 74
	run bash -c 'evjq . < in.bin > /dev/full'
	[ "$status" -eq 74 ]
	[[ "$output" == "evjq: stdout: "* ]]
	for i in $(seq 2000); do cat in.bin; done > many.bin
	run bash -c 'set -o pipefail; evjq . < many.bin | head -c1 > /dev/null'
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "backpressure: a stopped reader stops the program; memory stays flat" {
	for i in $(seq 5000); do cat in.bin; done > many.bin
	mkfifo out.fifo
	evjq '., .' < many.bin > out.fifo &
	pid=$!
	exec 5< out.fifo
	# nothing read: evjq waits with at most a pipe and its buffer written
	sleep 1
	kill -0 $pid
	rss1=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
	head -c 100000 <&5 > /dev/null
	sleep 0.5
	rss2=$(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
	cat <&5 > rest.bin
	exec 5<&-
	wait $pid
	echo "rss $rss1 $rss2"
	[ "$rss1" -lt 65536 ] && [ "$rss2" -lt 65536 ]
	[ "$(( $(stat -c %s rest.bin) + 100000 ))" -eq "$(evjq '., .' < many.bin | wc -c)" ]
}

@test "SIGTERM stops reading; what was made is written and the status is 0" {
	# exit-status: evjq 0
	mkfifo in.fifo
	evjq . < in.fifo > out.bin &
	pid=$!
	exec 5> in.fifo
	cat in.bin >&5
	wait_for test -s out.bin
	kill -TERM $pid
	wait $pid
	exec 5>&-
	[ "$(evcat -f '%id\n' out.bin)" = "$(printf '1\n2\n3\n4')" ]
}

@test "out of memory is exit 70 with one line" {
	# exit-status: evjq 70
	# A record that says it is 60 MiB long asks for a buffer of that
	# size: refused by the address-space limit (plain) or by the
	# allocator's (sanitizers).
	"$PYTHON3" -c '
import sys
n, v = 60 * 1024 * 1024, bytearray()
while True:
    b, n = n & 0x7f, n >> 7
    v.append(b | 0x80 if n else b)
    if not n:
        break
sys.stdout.buffer.write(bytes(v) + b"x" * 1000)' > big.pb
	if [ -n "$EVPIPE_SANITIZERS" ]; then
		run --separate-stderr env ASAN_OPTIONS="$ASAN_OPTIONS:allocator_may_return_null=1:max_allocation_size_mb=32" \
		    sh -c 'exec evjq -m 64M . < big.pb'
	else
		run --separate-stderr bash -c 'ulimit -v 65536; exec evjq -m 64M . < big.pb'
	fi
	[ "$status" -eq 70 ]
	# ASan says so too when an allocation is refused; that line is its own
	[ "$(printf '%s\n' "$stderr" | grep -v '^==[0-9]*==WARNING: AddressSanitizer failed to allocate')" = "evjq: out of memory" ]
}
