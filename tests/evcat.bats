#!/usr/bin/env bats
# evcat: the pipe envelope and the JSON view, against exact bytes and
# against Google's protobuf runtime as an independent codec.

load helpers

setup_file() {
	pyproto_setup
}

setup() {
	setup_tmp
}

@test "round trip reproduces every event exactly" {
	evcat -e "$DATA/events.jsonl" > ev.bin
	evcat --data=proto ev.bin > out.jsonl
	diff -u "$DATA/events.jsonl" out.jsonl
}

@test "encoding matches Google's protobuf runtime byte for byte" {
	cat > pb.jsonl <<-'END'
	{"id":"a","source":"/s","specVersion":"1.0","type":"t","attributes":{"b":{"ceBoolean":true},"i":{"ceInteger":-1},"s":{"ceString":"\u00e9"},"u":{"ceUri":"http://x/"},"r":{"ceUriRef":"#x"},"x":{"ceBytes":"AAE="},"time":{"ceTimestamp":"2020-01-01T00:00:00.5Z"}},"textData":"\"hi\""}
	{"id":"b","source":"/s","specVersion":"1.0","type":"t","binaryData":"AP8="}
	{"id":"c","source":"/s","specVersion":"1.0","type":"t","protoData":{"@type":"type.googleapis.com/google.protobuf.Timestamp","value":"1970-01-01T00:00:01Z"}}
	END
	cecodec encode < pb.jsonl > want.bin
	cat > ce.jsonl <<-'END'
	{"specversion":"1.0","id":"a","source":"/s","type":"t","b":true,"i":-1,"r":"#x","s":"é","time":"2020-01-01T00:00:00.5Z","u":"http://x/","x":"AAE=","evpipetypes":"r=URI-reference,u=URI,x=Binary","datacontenttype":null,"data":"hi"}
	{"specversion":"1.0","id":"b","source":"/s","type":"t","data_base64":"AP8="}
	{"specversion":"1.0","id":"c","source":"/s","type":"t","data_proto":{"type_url":"type.googleapis.com/google.protobuf.Timestamp","value":"CAE="}}
	END
	# no datacontenttype means JSON: "hi" is the JSON text "hi", quotes and all
	evcat -e ce.jsonl > got.bin
	[ "$(hex got.bin)" = "$(hex want.bin)" ]
	# and what Google's runtime reads back is what we meant
	cecodec decode < got.bin > back.jsonl
	cecodec decode < want.bin | diff -u - back.jsonl
}

@test "decoding what Google's runtime wrote" {
	cat > pb.jsonl <<-'END'
	{"id":"1","source":"/s","specVersion":"1.0","type":"t","attributes":{"n":{"ceInteger":2147483647},"seen":{"ceTimestamp":"2021-05-06T07:08:09.000000001Z"}},"binaryData":"////"}
	END
	cecodec encode < pb.jsonl | evcat > out.jsonl
	echo '{"specversion":"1.0","id":"1","source":"/s","type":"t","n":2147483647,"seen":"2021-05-06T07:08:09.000000001Z","evpipetypes":"seen=Timestamp","data_base64":"////"}' > want.jsonl
	diff -u want.jsonl out.jsonl
}

@test "exact bytes of a minimal record" {
	echo '{"specversion":"1.0","id":"1","source":"/","type":"t"}' | evcat -e > got.bin
	[ "$(hex got.bin)" = "0e 0a 01 31 12 01 2f 1a 03 31 2e 30 22 01 74" ]
}

@test "empty input is an empty stream" {
	run evcat < /dev/null
	[ "$status" -eq 0 ] && [ -z "$output" ]
	run evcat -e < /dev/null
	[ "$status" -eq 0 ] && [ -z "$output" ]
}

@test "several files and - are read in order" {
	evcat -e "$DATA/events.jsonl" > a.bin
	printf '{"specversion":"1.0","id":"z","source":"/","type":"t"}\n' | evcat -e > b.bin
	evcat a.bin - a.bin < b.bin > out.jsonl
	[ "$(wc -l < out.jsonl)" -eq 13 ]
	[ "$(sed -n 7p out.jsonl)" = '{"specversion":"1.0","id":"z","source":"/","type":"t"}' ]
}

@test "a truncated length prefix is an error naming the record and offset" {
	# exit-status: evcat 65
	evcat -e "$DATA/events.jsonl" > ev.bin
	size=$(stat -c %s ev.bin)
	printf '\x80' >> ev.bin
	run --separate-stderr evcat ev.bin
	[ "$status" -eq 65 ]
	[ "$stderr" = "evcat: ev.bin: record 7 at byte $size: truncated length prefix (1 bytes)" ]
	[ "${#lines[@]}" -eq 6 ]
}

@test "a truncated record body is an error; the records before it are out" {
	printf '{"specversion":"1.0","id":"1","source":"/","type":"t"}\n' | evcat -e > ev.bin
	printf '\x0e\x0a\x01' >> ev.bin
	run --separate-stderr evcat < ev.bin
	[ "$status" -eq 65 ]
	[ "$stderr" = "evcat: stdin: record 2 at byte 15: truncated record (2 of 14 bytes)" ]
	[ "$output" = '{"specversion":"1.0","id":"1","source":"/","type":"t"}' ]
}

@test "a length over the limit is refused before reading the body" {
	printf '\xff\xff\xff\xff\x0f' > big.bin
	run --separate-stderr evcat < big.bin
	[ "$status" -eq 65 ]
	[ "$stderr" = "evcat: stdin: record 1 at byte 0: length 4294967295 exceeds the limit of 4194304 bytes" ]
	evcat -e "$DATA/events.jsonl" > ev.bin
	run --separate-stderr evcat -m 100 ev.bin
	[ "$status" -eq 65 ]
	[[ "$stderr" == "evcat: ev.bin: record 4 at byte "*": length "*" exceeds the limit of 100 bytes" ]]
}

@test "an over-long varint is refused" {
	printf '\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01' > bad.bin
	run --separate-stderr evcat < bad.bin
	[ "$status" -eq 65 ]
	[ "$stderr" = "evcat: stdin: record 1 at byte 0: bad length prefix (longer than 10 bytes)" ]
}

@test "garbage bytes are an error, not a crash" {
	printf '\x04\xff\xff\xff\xff' > g1.bin
	run --separate-stderr evcat < g1.bin
	[ "$status" -eq 65 ]
	[[ "$stderr" == "evcat: stdin: record 1 at byte 0: "* ]]
	head -c 4096 /dev/urandom > g2.bin
	run evcat < g2.bin
	[ "$status" -eq 65 ]
}

@test "records that parse but are not valid CloudEvents are refused" {
	# id, source, type but no spec_version
	printf '\x09\x0a\x01\x31\x12\x01\x2f\x22\x01\x74' > nospec.bin
	run --separate-stderr evcat < nospec.bin
	[ "$status" -eq 65 ]
	[[ "$stderr" == "evcat: stdin: record 1 at byte 0: "*spec* ]]
	# text_data that is not UTF-8
	printf '\x11\x0a\x01\x31\x12\x01\x2f\x1a\x03\x31\x2e\x30\x22\x01\x74\x3a\x01\xff' > badutf.bin
	run --separate-stderr evcat < badutf.bin
	[ "$status" -eq 65 ]
	[[ "$stderr" == "evcat: stdin: record 1 at byte 0: "*UTF-8* ]]
}

@test "a bad JSON line is reported with its number; lines before are written" {
	{ head -2 "$DATA/events.jsonl"; echo '{"specversion":"1.0",'; head -1 "$DATA/events.jsonl"; } > in.jsonl
	evcat -e < in.jsonl > out.bin && false || [ $? -eq 65 ]
	run --separate-stderr evcat -e < in.jsonl
	[ "$status" -eq 65 ]
	[[ "$stderr" == "evcat: stdin: line 3: bad JSON"* ]]
	evcat out.bin | diff -u <(head -2 "$DATA/events.jsonl") -
}

@test "missing required attributes and bad base64 are refused by line" {
	for bad in \
	    '{"id":"1","source":"/","type":"t"}' \
	    '{"specversion":"1.0","source":"/","type":"t"}' \
	    '{"specversion":"1.0","id":"1","type":"t"}' \
	    '{"specversion":"1.0","id":"1","source":"/"}' \
	    '{"specversion":"1.0","id":"1","source":"/","type":"t","data_base64":"@@"}' \
	    '{"specversion":"1.0","id":"","source":"/","type":"t"}' \
	    '[{"specversion":"1.0","id":"1","source":"/","type":"t"},{"id":"2"}]' \
	    '"just a string"'; do
		printf '\n%s\n' "$bad" > in.jsonl
		run --separate-stderr evcat -e in.jsonl
		echo "$bad -> $status $stderr"
		[ "$status" -eq 65 ]
		[[ "$stderr" == "evcat: in.jsonl: line 2"* ]]
		[ -z "$output" ]
	done
}

@test "a NUL byte inside a JSON string is refused, never cut short" {
	# "a\0b" would become "a": two ids would collapse into one
	printf '{"specversion":"1.0","id":"1","source":"/","type":"t"}\n{"specversion":"1.0","id":"a\0b","source":"/","type":"t"}\n{"specversion":"1.0","id":"a\0c","source":"/","type":"t"}\n' > in.jsonl
	run --separate-stderr evcat -e in.jsonl
	[ "$status" -eq 65 ]
	[ "$stderr" = "evcat: in.jsonl: line 2: bad JSON at column 29: a NUL byte" ]
	evcat -e in.jsonl > out.bin || true
	[ "$(evcat out.bin)" = '{"specversion":"1.0","id":"1","source":"/","type":"t"}' ]
	# in a member name, in an attribute, in data: the same
	for bad in '{"specversion":"1.0","id":"1","source":"/","type":"t","x\0":"v"}' \
	    '{"specversion":"1.0","id":"1","source":"/","type":"t","x":"v\0"}' \
	    '{"specversion":"1.0","id":"1","source":"/","type":"t","data":{"k":"\0"}}' \
	    '{"specversion":"1.0","id":"1","source":"/","type":"t"}\0'; do
		printf "$bad\n" > in.jsonl
		run --separate-stderr evcat -e in.jsonl
		[ "$status" -eq 65 ]
		[[ "$stderr" == "evcat: in.jsonl: line 1: bad JSON at column "*": a NUL byte" ]]
	done
}

# peak_rss_kib COMMAND...: run it (stdout to out, stderr to err) and
# print its peak resident set in KiB, after its exit status.
peak_rss_kib() {
	"$PYTHON3" -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=open("out", "wb"), stderr=open("err", "wb"))
print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"
}

@test "40000 attributes in one event: memory and time linear, -m bounds both" {
	# the attributes sorted by name, as evcat writes them
	"$PYTHON3" -c 'print("{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/\",\"type\":\"t\"" +
    "".join(",\"%s\":\"v\"" % n for n in sorted("a%d" % i for i in range(40000))) + "}")' > in.jsonl
	# Before: 6 GB and minutes (each attribute copied the array so far).
	SECONDS=0
	read -r st kib < <(peak_rss_kib evcat -e in.jsonl)
	echo "encode: status $st, peak RSS $kib KiB, $SECONDS s"
	[ "$st" -eq 0 ] && [ "$kib" -lt $((100 * 1024)) ]
	mv out big.bin
	read -r st kib < <(peak_rss_kib evcat big.bin)
	echo "decode: status $st, peak RSS $kib KiB, $SECONDS s"
	[ "$st" -eq 0 ] && [ "$kib" -lt $((100 * 1024)) ]
	cmp in.jsonl out
	[ "$SECONDS" -lt 30 ]
	# a smaller -m refuses it, within a memory bound of that size
	read -r st kib < <(peak_rss_kib evcat -e -m 64K in.jsonl)
	echo "-m 64K: status $st, peak RSS $kib KiB: $(cat err)"
	[ "$st" -eq 65 ] && [ "$kib" -lt $((100 * 1024)) ]
	[[ "$(cat err)" == "evcat: in.jsonl: line 1: event of "*" bytes exceeds the limit of 65536" ]]
	read -r st kib < <(peak_rss_kib evcat -m 64K big.bin)
	[ "$st" -eq 65 ]
	[[ "$(cat err)" == "evcat: big.bin: record 1 at byte 0: length "*" exceeds the limit of 65536 bytes" ]]
}

@test "a line over the limit is refused even when one read brings all of it" {
	# -m 1K: lines up to 2K + 1M; this one is 1.5M, read whole from a file
	awk 'BEGIN { printf "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/\",\"type\":\"t\",\"data\":\""
	    for (i = 0; i < 1536 * 1024 / 64; i++) printf "%064d", 0
	    printf "\"}\n" }' > in.jsonl
	run --separate-stderr evcat -e -m 1K in.jsonl
	[ "$status" -eq 65 ]
	[ "$stderr" = "evcat: in.jsonl: line 1: line too long" ]
}

@test "out of memory is exit 70 with one line" {
	# exit-status: evcat 70
	# A line of 64M asks for a buffer of that size: refused by the
	# address-space limit (plain) or by the allocator's (sanitizers).
	head -c $((64 * 1024 * 1024)) /dev/zero | tr '\0' ' ' > in.jsonl
	if [ -n "$EVPIPE_SANITIZERS" ]; then
		run --separate-stderr env ASAN_OPTIONS="$ASAN_OPTIONS:allocator_may_return_null=1:max_allocation_size_mb=32" \
		    evcat -e -m 64M in.jsonl
	else
		run --separate-stderr bash -c 'ulimit -v 65536; exec evcat -e -m 64M in.jsonl'
	fi
	[ "$status" -eq 70 ]
	# ASan says so too when an allocation is refused; that line is its own
	[ "$(printf '%s\n' "$stderr" | grep -v '^==[0-9]*==WARNING: AddressSanitizer failed to allocate')" = "evcat: out of memory" ]
}

@test "an array line becomes several records" {
	printf '[{"specversion":"1.0","id":"1","source":"/","type":"t"},{"specversion":"1.0","id":"2","source":"/","type":"t"}]\n' | evcat -e | evcat > out.jsonl
	[ "$(wc -l < out.jsonl)" -eq 2 ]
}

@test "100000 records through a pipe" {
	awk 'BEGIN { for (i = 1; i <= 100000; i++)
	    printf "{\"specversion\":\"1.0\",\"id\":\"%d\",\"source\":\"/load\",\"type\":\"t\",\"seq\":%d,\"data\":\"%s\"}\n", i, i, "payload" i }' > in.jsonl
	evcat -e < in.jsonl | cat | evcat | cat > out.jsonl
	cmp in.jsonl out.jsonl
}

@test "writing to /dev/full exits 74" {
	# exit-status: evcat 74
	evcat -e "$DATA/events.jsonl" > ev.bin
	run --separate-stderr bash -c 'evcat ev.bin > /dev/full'
	[ "$status" -eq 74 ]
	[ "$stderr" = "evcat: stdout: No space left on device" ]
	run --separate-stderr bash -c "evcat -e '$DATA/events.jsonl' > /dev/full"
	[ "$status" -eq 74 ]
}

@test "a reader that goes away is a quiet stop" {
	# exit-status: evcat 0
	awk 'BEGIN { for (i = 1; i <= 20000; i++)
	    printf "{\"specversion\":\"1.0\",\"id\":\"%d\",\"source\":\"/\",\"type\":\"t\"}\n", i }' > in.jsonl
	evcat -e < in.jsonl > in.bin
	run --separate-stderr bash -c 'set -o pipefail; evcat in.bin | head -c1'
	[ "$status" -eq 0 ] && [ "$output" = "{" ] && [ -z "$stderr" ]
	run --separate-stderr bash -c 'set -o pipefail; evcat -e in.jsonl | head -c1 > /dev/null'
	[ "$status" -eq 0 ] && [ -z "$stderr" ]
}

@test "SIGTERM stops reading and writes what was accepted" {
	mkfifo in
	evcat -e < in > out.bin 2> err &
	pid=$!
	exec 5> in
	echo '{"specversion":"1.0","id":"1","source":"/","type":"t"}' >&5
	# wait for the record to be written, then stop
	for i in $(seq 100); do [ -s out.bin ] && break; sleep 0.1; done
	kill -TERM "$pid"
	wait "$pid"
	exec 5>&-
	[ "$(evcat out.bin)" = '{"specversion":"1.0","id":"1","source":"/","type":"t"}' ]
	[ ! -s err ]
}

@test "refuses to write records to a terminal unless -F" {
	command -v script > /dev/null || skip "script(1) not installed"
	run script -qec "evcat -e '$DATA/events.jsonl'" /dev/null
	[ "$status" -eq 64 ]
	[[ "$output" == *"evcat: refusing to write binary records to a terminal (-F forces)"* ]]
	run script -qec "evcat -eF '$DATA/events.jsonl' > /dev/null" /dev/null
	[ "$status" -eq 0 ]
}

@test "bad options and arguments exit 64 with the synopsis" {
	# exit-status: evcat 64
	# exit-status: evcat 74
	run --separate-stderr evcat -x
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "evcat: unknown option -x" ]
	[ "${stderr_lines[1]}" = "usage: evcat [-deFqv] [-D form] [-f format] [-m size] [-P protoset] [file ...]" ]
	run --separate-stderr evcat -m 0
	[ "$status" -eq 64 ]
	run --separate-stderr evcat -m 2G
	[ "$status" -eq 64 ]
	run --separate-stderr evcat --max-record
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "evcat: option --max-record needs an argument" ]
	run --separate-stderr evcat no-such-file
	[ "$status" -eq 74 ]
	[ "$stderr" = "evcat: no-such-file: No such file or directory" ]
}

@test "--help and --version" {
	run evcat --help
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "usage: evcat [-deFqv] [-D form] [-f format] [-m size] [-P protoset] [file ...]" ]
	run evcat --version
	[ "$status" -eq 0 ]
	[[ "$output" == "evcat (evpipe) "[0-9]* ]]
	run bash -c 'evcat --help > /dev/full'
	[ "$status" -eq 74 ]
}
