#!/usr/bin/env bats
# evcat and types: CloudEvents JSON that the CloudEvents JavaScript SDK
# reads, protobuf data decoded by descriptors, JSON data kept as written,
# exact round trips, one-line views.  References: Google's protobuf
# runtime (tests/peers/pbref.py, tests/peers/cecodec.py) and the SDK
# (npm cloudevents, pinned in tests/sdk).

load helpers

T=evpipe.test.AllTypes
SCHEMA=https://type.googleapis.com/evpipe.test.AllTypes

setup_file() {
	pyproto_setup
	local inc
	inc=$(pkg-config --variable=includedir protobuf 2> /dev/null || echo /usr/include)
	export TYPES=$BATS_FILE_TMPDIR/types
	mkdir -p "$TYPES"
	protoc -I"$EVPIPE_SRCDIR/tests/proto" -I"$inc" --python_out="$TYPES" \
	    --include_imports --descriptor_set_out="$TYPES/all.pb" \
	    "$EVPIPE_SRCDIR/tests/proto/alltypes.proto"
	(cd "$EVPIPE_SRCDIR/proto" && protoc -I. -I"$inc" --python_out="$TYPES" \
	    $(find . -name '*.proto' | sed 's|^\./||'))
	# a regular package, so that grpcio's "grpc" does not hide ours
	find "$TYPES/grpc" -type d -exec touch {}/__init__.py \;
	# the pinned SDK (scripts/deps test installs it; offline after that)
	export SDK
	SDK=$("$EVPIPE_SRCDIR/tests/sdk/install")
}

setup() {
	setup_tmp
}

pbref() { PYTHONPATH=$TYPES "$PYTHON3" "$PEERS/pbref.py" "$@"; }
sdk_check() {
	NODE_PATH=$SDK/node_modules node "$EVPIPE_SRCDIR/tests/sdk/cecheck.js"
}
# every line is one JSON value, as Python's json module reads JSON
py_json() {
	"$PYTHON3" -c '
import json, sys
def bad(c): raise ValueError("not JSON: " + c)
n = 0
for line in sys.stdin:
    json.loads(line, parse_constant=bad)
    n += 1
print(n, "lines")'
}
# base64 lines of TYPE data -> CloudEvents JSON lines
as_events() {
	awk -v s="https://type.googleapis.com/$1" '{ printf "{\"specversion\":\"1.0\",\"id\":\"%d\",\"source\":\"/t\",\"type\":\"t\",\"datacontenttype\":\"application/protobuf\",\"dataschema\":\"%s\",\"data_base64\":\"%s\"}\n", NR, s, $0 }'
}
# the "data" or "data_base64" member of each line
member() {
	"$PYTHON3" -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    v = e.get(sys.argv[1])
    print(v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False))' "$1"
}
samples() {
	cat <<-'END'
	{}
	{"fDouble":1.5,"fFloat":0.1,"fInt64":"-9223372036854775808","fUint64":"18446744073709551615","fInt32":-5,"fFixed64":"12345678901234567890","fFixed32":4294967295,"fBool":true,"fString":"h\u00e9llo \"q\" \n","fBytes":"AAH/","fUint32":7,"fColor":"GREEN","fSfixed32":-3,"fSfixed64":"-4","fSint32":-2147483648,"fSint64":"9223372036854775807"}
	{"fInner":{"name":"x","nums":[1,-2,3]},"optInt32":0,"rInt64":["1","-1"],"rString":["a",""],"rInner":[{},{"name":"y"}],"rColor":["RED",5],"rDouble":[0,-0,1e-300,"NaN","Infinity","-Infinity"],"rUnpacked":[1,2,0]}
	{"mStringInt":{"":3,"a":1,"b":0},"mInt64String":{"-5":"x","7":""},"mBoolInner":{"false":{},"true":{"name":"t"}},"mSintColor":{"-1":"RED","2":"COLOR_UNSPECIFIED"}}
	{"cString":""}
	{"cInner":{}}
	{"cInt":0,"fColor":9}
	{"wAny":{"@type":"type.googleapis.com/evpipe.test.Inner","name":"in","nums":[4]},"wTimestamp":"2026-11-22T10:00:00.123Z","wDuration":"-1.500s","wFieldmask":"fInt32,fInner.name,snakeCaseName","wStruct":{"a":[1,"x",null,true,{"b":{}}],"c":2.5},"wValue":null,"wList":[1,[],{}],"wInt64":"5","wString":"","wBool":false,"wDouble":"NaN","wBytes":"","wUint32":3,"wEmpty":{}}
	{"rAny":[{"@type":"type.googleapis.com/google.protobuf.Timestamp","value":"1970-01-01T00:00:00Z"},{"@type":"type.googleapis.com/google.protobuf.Duration","value":"0.000000001s"},{"@type":"type.googleapis.com/google.protobuf.Int32Value","value":0},{"@type":"type.googleapis.com/evpipe.test.AllTypes","recursive":{"fString":"deep"}}],"wValue":"s","wTimestamp":"0001-01-01T00:00:00Z","wDuration":"315576000000s"}
	{"wValue":{"k":[]},"wTimestamp":"9999-12-31T23:59:59.999999999Z","wDuration":"0s","snakeCaseName":"z","fFloat":1e38,"fDouble":-1.7976931348623157e308}
	{"fFloat":"NaN","wValue":1e-7,"wStruct":{},"wList":[]}
	END
}

@test "decoded data is its proto3 JSON mapping, as Google's runtime writes it, for every kind of field" {
	samples | pbref alltypes_pb2 $T json2bin > bin.txt
	as_events $T < bin.txt | evcat -e > ev.bin
	evcat -P "$TYPES/all.pb" --data=json ev.bin > dec.jsonl
	# every one decoded, none left in base64
	[ "$(grep -c '"evpipetypes":"data=proto","data":' dec.jsonl)" -eq "$(wc -l < bin.txt)" ]
	member data < dec.jsonl > got.json
	pbref alltypes_pb2 $T bin2json < bin.txt > want.json
	"$PYTHON3" -c '
import json, sys
want = [json.loads(l) for l in open("want.json")]
got = [json.loads(l) for l in open("got.json")]
assert len(want) == len(got) == 11, (len(want), len(got))
for i, (w, g) in enumerate(zip(want, got)):
    assert w == g, (i + 1, w, g)'
	# and the decoded JSON encodes back to the very same records
	evcat -P "$TYPES/all.pb" -e dec.jsonl | cmp - ev.bin
}

@test "decoded JSON written by hand encodes as Google's runtime serializes it" {
	samples | pbref alltypes_pb2 $T json2bin > want.txt
	samples | "$PYTHON3" -c '
import json, sys
for line in sys.stdin:
    print(json.dumps({"specversion": "1.0", "id": "x", "source": "/t", "type": "t",
        "dataschema": sys.argv[1], "evpipetypes": "data=proto",
        "data": json.loads(line)}, sort_keys=True))' "$SCHEMA" > in.jsonl
	evcat -P "$TYPES/all.pb" -e in.jsonl | evcat | member data_base64 > got.txt
	diff -u want.txt got.txt
}

@test "--data=text is the text format, as Python's text_format writes it on one line" {
	samples | pbref alltypes_pb2 $T json2bin > bin.txt
	pbref alltypes_pb2 $T bin2text < bin.txt > want.txt
	as_events $T < bin.txt | evcat -e | evcat -P "$TYPES/all.pb" --data=text -f '%data\n' > got.txt
	diff -u want.txt got.txt
	# in the JSON form: a view, marked so; evcat -e refuses it
	as_events $T < bin.txt | evcat -e | evcat -P "$TYPES/all.pb" -D text > text.jsonl
	sdk_check < text.jsonl
	run --separate-stderr evcat -P "$TYPES/all.pb" -e text.jsonl
	[ "$status" -eq 65 ]
	[ "$stderr" = "evcat: text.jsonl: line 1: data is in the text format, which is only a view: write it with --data=json or base64" ]
}

@test "every type evpipe knows decodes without --protoset, as Google's runtime reads it" {
	while IFS=$'\t' read -r type json; do
		printf '{"specversion":"1.0","id":"1","source":"/t","type":"t","dataschema":"https://type.googleapis.com/%s","evpipetypes":"data=proto","data":%s}\n' "$type" "$json"
	done < "$DATA/types.jsonl" > in.jsonl
	evcat -e in.jsonl > ev.bin
	evcat --data=json ev.bin > out.jsonl
	[ "$(grep -c '"data":{' out.jsonl)" -eq "$(wc -l < in.jsonl)" ]
	evcat -e out.jsonl | cmp - ev.bin
	# Google's runtime reads our bytes as the JSON says
	for module in $(cd "$TYPES" && find . -name '*_pb2.py' | sed 's|^\./||; s|\.py$||; s|/|.|g'); do
		echo "import $module"
	done > "$TYPES/all_types.py"
	evcat ev.bin | member data_base64 > bin.txt
	i=0
	while IFS=$'\t' read -r type json; do
		i=$((i + 1))
		sed -n "${i}p" bin.txt | pbref all_types "$type" bin2json > want.json
		echo "$json" | "$PYTHON3" -c '
import json, sys
got = json.loads(sys.stdin.read())
want = json.loads(open("want.json").read())
assert got == want, (sys.argv[1], got, want)' "$type"
	done < "$DATA/types.jsonl"
	sdk_check < out.jsonl
}

@test "records whose data is not in canonical form keep it as base64: the round trip is exact" {
	samples | pbref alltypes_pb2 $T json2bin | pbref alltypes_pb2 $T shuffle > shuf.txt
	as_events $T < shuf.txt | evcat -e > ev.bin
	evcat -P "$TYPES/all.pb" --data=json ev.bin > out.jsonl
	# the ones with two or more fields are not in field order any more
	[ "$(grep -c '"data_base64"' out.jsonl)" -eq 8 ]
	evcat -P "$TYPES/all.pb" -e out.jsonl | cmp - ev.bin
	# a type evcat does not know stays base64 too
	evcat --data=json ev.bin > unknown.jsonl
	[ "$(grep -c '"data_base64"' unknown.jsonl)" -eq 11 ]
	evcat -e unknown.jsonl | cmp - ev.bin
}

@test "the default output is CloudEvents JSON for the SDK and JSON for Python; evpipe 1's is not" {
	evcat -e "$DATA/events.jsonl" > ev.bin
	samples | pbref alltypes_pb2 $T json2bin | as_events $T | evcat -e >> ev.bin
	for form in base64 json text; do
		evcat -P "$TYPES/all.pb" --data=$form ev.bin > $form.jsonl
		run sdk_check < $form.jsonl
		[ "$status" -eq 0 ] && [ "$output" = "17 events" ]
		run py_json < $form.jsonl
		[ "$status" -eq 0 ] && [ "$output" = "17 lines" ]
	done
	# the check can fail: data_proto is no CloudEvents JSON
	evcat --data=proto ev.bin > proto.jsonl
	run sdk_check < proto.jsonl
	[ "$status" -eq 1 ]
	[[ "$output" == "line 4: invalid attribute name: \"data_proto\""* ]]
	# what evcat wrote before reads as it did
	evcat -e proto.jsonl | cmp - ev.bin
}

@test "protobuf data: application/protobuf, dataschema from the type URL, and back" {
	for url in type.googleapis.com/x.Y https://type.googleapis.com/x.Y \
	    http://example.com/x.Y urn:x.Y x.Y ''; do
		"$PYTHON3" -c '
import sys, base64
sys.path.insert(0, sys.argv[2])
import cloudevent_pb2
from google.protobuf.internal import encoder
e = cloudevent_pb2.CloudEvent(id="1", source="/s", spec_version="1.0", type="t")
e.proto_data.type_url = sys.argv[1]
e.proto_data.value = b"\x08\x01"
b = e.SerializeToString()
sys.stdout.buffer.write(encoder._VarintBytes(len(b)) + b)' "$url" "$BATS_FILE_TMPDIR/py" > one.bin
		evcat one.bin > one.jsonl
		evcat -e one.jsonl | cmp - one.bin
		cat one.jsonl >> all.jsonl
	done
	cat > want.jsonl <<-'END'
	{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"application/protobuf","dataschema":"https://type.googleapis.com/x.Y","data_base64":"CAE="}
	{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"application/protobuf","dataschema":"https://https://type.googleapis.com/x.Y","data_base64":"CAE="}
	{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"application/protobuf","dataschema":"http://example.com/x.Y","data_base64":"CAE="}
	{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"application/protobuf","dataschema":"urn:x.Y","data_base64":"CAE="}
	{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"application/protobuf","dataschema":"https://x.Y","data_base64":"CAE="}
	{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"application/protobuf","dataschema":"https://","data_base64":"CAE="}
	END
	diff -u want.jsonl all.jsonl
	head -5 all.jsonl | sdk_check
}

@test "attributes that say otherwise than the data: marked in evpipetypes, exact both ways" {
	cat > pb.jsonl <<-'END'
	{"id":"1","source":"/s","specVersion":"1.0","type":"t","attributes":{"datacontenttype":{"ceString":"application/protobuf"},"dataschema":{"ceUri":"https://type.googleapis.com/google.protobuf.Duration"}},"protoData":{"@type":"type.googleapis.com/google.protobuf.Duration","value":"1s"}}
	{"id":"2","source":"/s","specVersion":"1.0","type":"t","attributes":{"datacontenttype":{"ceString":"application/x-protobuf"}},"protoData":{"@type":"type.googleapis.com/google.protobuf.Duration","value":"1s"}}
	{"id":"3","source":"/s","specVersion":"1.0","type":"t","attributes":{"dataschema":{"ceUri":"https://example.com/d.proto"}},"protoData":{"@type":"type.googleapis.com/google.protobuf.Duration","value":"1s"}}
	{"id":"4","source":"/s","specVersion":"1.0","type":"t","attributes":{"datacontenttype":{"ceString":"application/protobuf"},"dataschema":{"ceUri":"https://type.googleapis.com/x.Y"}},"binaryData":"CAE="}
	{"id":"5","source":"/s","specVersion":"1.0","type":"t","attributes":{"datacontenttype":{"ceString":"application/json"}},"textData":"{\"a\": 1}\n"}
	END
	cecodec encode < pb.jsonl > ev.bin
	evcat ev.bin > out.jsonl
	cat > want.jsonl <<-'END'
	{"specversion":"1.0","id":"1","source":"/s","type":"t","datacontenttype":"application/protobuf","dataschema":"https://type.googleapis.com/google.protobuf.Duration","evpipetypes":"datacontenttype=String,dataschema=URI","data_base64":"CAE="}
	{"specversion":"1.0","id":"2","source":"/s","type":"t","datacontenttype":"application/x-protobuf","dataschema":"https://type.googleapis.com/google.protobuf.Duration","evpipetypes":"datacontenttype=String,data=proto","data_base64":"CAE="}
	{"specversion":"1.0","id":"3","source":"/s","type":"t","dataschema":"https://example.com/d.proto","evpipetypes":"data=any","data_base64":"Cix0eXBlLmdvb2dsZWFwaXMuY29tL2dvb2dsZS5wcm90b2J1Zi5EdXJhdGlvbhICCAE="}
	{"specversion":"1.0","id":"4","source":"/s","type":"t","datacontenttype":"application/protobuf","dataschema":"https://type.googleapis.com/x.Y","evpipetypes":"data=binary","data_base64":"CAE="}
	{"specversion":"1.0","id":"5","source":"/s","type":"t","datacontenttype":"application/json","evpipetypes":"data=text","data":"{\"a\": 1}\n"}
	END
	diff -u want.jsonl out.jsonl
	evcat -e out.jsonl | cmp - ev.bin
	sdk_check < out.jsonl
	# and in evpipe 1's form
	evcat --data=proto ev.bin | evcat -e | cmp - ev.bin
	# decoded where it can be: not where datacontenttype says protobuf
	evcat --data=json ev.bin > dec.jsonl
	sed -n 1p dec.jsonl | grep -q '"data_base64"'
	evcat -e dec.jsonl | cmp - ev.bin
}

@test "JSON data passes as it was written: big numbers, spaces, never rounded" {
	cat > in.jsonl <<-'END'
	{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"big":12345678901234567890,"huge":1e400,"f":1.10,"neg":-0}}
	{"specversion":"1.0","id":"2","source":"/s","type":"t","datacontenttype":"application/json","data": {"a": 1, "b": [1, 2]} }
	{"specversion":"1.0","id":"3","source":"/s","type":"t","data":"a JSON string"}
	{"specversion":"1.0","id":"4","source":"/s","type":"t","data":null}
	END
	evcat -e in.jsonl > ev.bin
	cecodec decode < ev.bin | "$PYTHON3" -c '
import json, sys
print("\n".join(json.loads(l)["textData"] for l in sys.stdin))' > text.txt
	cat > want.txt <<-'END'
	{"big":12345678901234567890,"huge":1e400,"f":1.10,"neg":-0}
	{"a": 1, "b": [1, 2]}
	"a JSON string"
	null
	END
	diff -u want.txt text.txt
	evcat ev.bin > out.jsonl
	sed -n 1p out.jsonl | grep -qF '"data":{"big":12345678901234567890,"huge":1e400,"f":1.10,"neg":-0}'
	# what Python's json.dumps writes comes out as JSON, not as a string
	[ "$(sed -n 2p out.jsonl | "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["data"]["b"][1])')" = 2 ]
	evcat -e out.jsonl | cmp - ev.bin
}

@test "what a round trip changes, exactly: field order, repeated names, unknown fields (with a warning)" {
	cat > pb.jsonl <<-'END'
	{"id":"1","source":"/s","specVersion":"1.0","type":"t","attributes":{"zeta":{"ceString":"z"},"alpha":{"ceInteger":1},"mid":{"ceBoolean":true}},"textData":"\"x\""}
	END
	cecodec encode < pb.jsonl > canon.bin
	# attributes keep their order (not sorted)
	evcat canon.bin > canon.jsonl
	grep -q '"alpha":1,"mid":true,"zeta":"z"\|"zeta":"z","alpha":1,"mid":true' canon.jsonl
	evcat -e canon.jsonl | cmp - canon.bin
	# fields in another order: back in number order, the canonical bytes
	"$PYTHON3" - "$BATS_FILE_TMPDIR/py" canon.bin > odd.bin <<-'END'
	import sys
	sys.path.insert(0, sys.argv[1])
	from google.protobuf.internal import decoder, encoder
	data = open(sys.argv[2], "rb").read()
	n, pos = decoder._DecodeVarint(data, 0)
	body = data[pos:pos + n]
	# reverse the top-level fields; add unknown field 99 (varint 7)
	parts, p = [], 0
	while p < len(body):
	    s = p
	    key, p = decoder._DecodeVarint(body, p)
	    if key & 7 == 2:
	        l, p = decoder._DecodeVarint(body, p)
	        p += l
	    else:
	        _, p = decoder._DecodeVarint(body, p)
	    parts.append(body[s:p])
	odd = b"".join(reversed(parts)) + encoder._VarintBytes(99 << 3) + b"\x07"
	# and a repeated attribute name: the later value counts
	entry = b"\x0a\x04zeta\x12\x03\x1a\x01y"
	odd += b"\x2a" + encoder._VarintBytes(len(entry)) + entry
	sys.stdout.buffer.write(encoder._VarintBytes(len(odd)) + odd)
	END
	run --separate-stderr bash -c 'evcat odd.bin | evcat -e > back.bin'
	[ "$status" -eq 0 ]
	[ "$stderr" = "evcat: odd.bin: record 1 at byte 0: fields CloudEvent does not have are dropped (further ones are counted)" ]
	evcat back.bin > back.jsonl
	grep -q '"zeta":"y"' back.jsonl
	! grep -q '"zeta":"z"' back.jsonl
	[ "$(grep -o zeta back.jsonl | wc -l)" -eq 1 ]
	# back.bin is canonical: it round-trips byte for byte
	evcat back.bin | evcat -e | cmp - back.bin
}

@test "--format: one line per event from a template" {
	evcat -e "$DATA/events.jsonl" > ev.bin
	evcat -f '%id %type %time|%subject|%{seen}|%datacontenttype|%dataschema\t%%\n' ev.bin > out.txt
	cat > want.txt <<-'END'
	1 demo.hello ||||	%
	2 demo.text |||text/plain|	%
	3 demo.bytes ||||	%
	4 demo.proto 2026-11-22T10:00:00.123456789Z|build/42||application/protobuf|https://type.googleapis.com/google.protobuf.Timestamp	%
	5 demo.attrs ||1999-12-31T23:59:59Z||	%
	6 demo.json |||application/cloudevents+json|	%
	END
	diff -u want.txt out.txt
	evcat -f '%data\n' ev.bin | sed -n '1p;4p' > data.txt
	printf '%s\n' '{"greeting":"hello"}' CKD6itgGEAU= | diff -u - data.txt
	[ "$(evcat --data=json -f '%data\n' ev.bin | sed -n 4p)" = '"2026-11-22T10:00:00.000000005Z"' ]
	[ "$(evcat --data=text -f '%{data}\n' ev.bin | sed -n 4p)" = 'seconds: 1795341600 nanos: 5' ]
	# the spelling %{name} reads any attribute, %{data} the data
	[ "$(evcat -f '%{count}%{bool}%{bytes}%{ref}\n' ev.bin | sed -n 5p)" = '-7true3q2+7w==#frag' ]
}

@test "--format: bad templates and options exit 64 with the reason" {
	for t in '%nosuch' '%{Bad}' '%{}' '\q' '%{unclosed'; do
		run --separate-stderr evcat -f "$t" /dev/null
		echo "$t -> $status $stderr"
		[ "$status" -eq 64 ]
		[[ "${stderr_lines[0]}" == "evcat: -f: column "* ]]
	done
	run --separate-stderr evcat -e -f '%id' /dev/null
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "evcat: -f makes lines from records, not records" ]
	run --separate-stderr evcat --data=yaml /dev/null
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "evcat: --data=yaml: not base64, json, text or proto" ]
}

@test "--protoset: a file that is missing exits 74, one that is no descriptor set 64" {
	run --separate-stderr evcat -P no-such.pb /dev/null
	[ "$status" -eq 74 ]
	[ "$stderr" = "evcat: no-such.pb: No such file or directory" ]
	printf '\x0a\x05hello' > bad.pb
	run --separate-stderr evcat -P bad.pb /dev/null
	[ "$status" -eq 64 ]
	[ "$stderr" = "evcat: bad.pb: not a FileDescriptorSet" ]
}

@test "decoded data that does not fit its type is a line error, exit 65" {
	printf '{"specversion":"1.0","id":"1","source":"/s","type":"t","dataschema":"%s","evpipetypes":"data=proto","data":{"fInt32":"x"}}\n' "$SCHEMA" > a.jsonl
	run --separate-stderr evcat -P "$TYPES/all.pb" -e a.jsonl
	[ "$status" -eq 65 ]
	[ "$stderr" = "evcat: a.jsonl: line 1: data: field f_int32: a string where an integer belongs" ]
	printf '{"specversion":"1.0","id":"1","source":"/s","type":"t","dataschema":"%s","evpipetypes":"data=proto","data":{"nope":1}}\n' "$SCHEMA" > b.jsonl
	run --separate-stderr evcat -P "$TYPES/all.pb" -e b.jsonl
	[ "$status" -eq 65 ]
	[ "$stderr" = "evcat: b.jsonl: line 1: data: evpipe.test.AllTypes: no field \"nope\"" ]
	run --separate-stderr evcat -e b.jsonl
	[ "$status" -eq 65 ]
	[ "$stderr" = "evcat: b.jsonl: line 1: data: no type type.googleapis.com/evpipe.test.AllTypes (add a --protoset?)" ]
}

# --- the events every tool writes, as evcat shows them, for the SDK -----

teardown() {
	local pid
	[ -f "$BATS_TEST_TMPDIR/pids" ] || return 0
	while read -r pid; do
		kill "$pid" 2> /dev/null || true
	done < "$BATS_TEST_TMPDIR/pids"
	wait 2> /dev/null || true
	rm -f "$BATS_TEST_TMPDIR/pids"
}

# server NAME COMMAND...: start a peer that prints "port N"; sets $PORT.
server() {
	local name=$1 i
	shift
	"$@" > "$name.out" 2> "$name.err" &
	echo $! >> "$BATS_TEST_TMPDIR/pids"
	for i in $(seq 600); do
		PORT=$(sed -n 's/^port //p' "$name.out")
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	cat "$name.err" >&2
	return 1
}

peer_modules() {
	PYOUT=$BATS_FILE_TMPDIR/peers
	[ -d "$PYOUT" ] && return 0
	mkdir -p "$PYOUT"
	(cd "$EVPIPE_SRCDIR/proto" && protoc -I. --python_out="$PYOUT" \
	    cloudevent.proto engflow/notification/v1/notification.proto \
	    engflow/notification/v1/notification_queue.proto \
	    engflow/eventstore/v1/notifications.proto \
	    engflow/auth/auth_context.proto engflow/iam/v1/user.proto \
	    google/rpc/status.proto watch.proto apicentral.proto)
	"$PEERS/gen" "$PYOUT"
}

# every form evcat writes of the records in FILE reads in the SDK
all_forms_valid() {
	local form n
	n=$(evcat "$1" | wc -l)
	[ "$n" -gt 0 ]
	for form in base64 json text; do
		run sdk_check < <(evcat --data=$form "$1")
		echo "$form: $output"
		[ "$status" -eq 0 ] && [ "$output" = "$n events" ]
		run py_json < <(evcat --data=$form "$1")
		[ "$status" -eq 0 ] && [ "$output" = "$n lines" ]
	done
	# and the JSON gives back the records
	evcat --data=json "$1" | evcat -e | cmp - "$1"
}

@test "the SDK reads what subscribe writes: EngFlow, Axway and generic" {
	peer_modules
	server q "$PYTHON3" "$PEERS/fake_queue.py" --pyout "$PYOUT" \
	    --state qstate --count 5
	subscribe --idle-timeout 30 --endpoint "grpc://127.0.0.1:$PORT" \
	    --queue eventstore/lifecycle-events --count 5 > engflow.bin
	all_forms_valid engflow.bin
	# the notifications decode, payload and all
	evcat --data=json engflow.bin | grep -q '"data":{"id":"[^"]*","timestamp":"[^"]*","payload":{"@type":"type.googleapis.com/engflow.eventstore.v1.BuildLifecycleEventNotification"'

	server watch "$PYTHON3" "$PEERS/fake_watch.py" --pyout "$PYOUT" \
	    --events 5
	http=$(sed -n 's/^http //p' watch.out)
	subscribe --idle-timeout 30 --endpoint "grpc://127.0.0.1:$PORT" \
	    --topic /management/v1alpha1/watchtopics/t1 --tenant org1 \
	    --harvester "http://127.0.0.1:$http/events" \
	    --token-command "$PYTHON3 $PEERS/mkjwt.py 60" --since 0 -c 5 > axway.bin
	all_forms_valid axway.bin
	evcat --data=json axway.bin | grep -q '"dataschema":"https://type.googleapis.com/central.events.v1.Event","evpipetypes":"data=proto","data":{"id":'

	server echo "$PYTHON3" "$PEERS/echo_server.py" --pyout "$PYOUT"
	PYTHONPATH=$PYOUT "$PYTHON3" -c '
import sys, echo_pb2
sys.stdout.buffer.write(echo_pb2.EchoRequest(text="hi", count=3, size=3).SerializeToString())' > req.bin
	subscribe --endpoint "grpc://127.0.0.1:$PORT" \
	    --method /evpipe.test.Echo/ServerStream --request-file req.bin \
	    --type evpipe.test.EchoReply > generic.bin
	subscribe --endpoint "grpc://127.0.0.1:$PORT" \
	    --method /evpipe.test.Echo/ServerStream --request-file req.bin >> generic.bin
	all_forms_valid generic.bin
}

@test "the SDK reads what resolve writes" {
	ESPY=$BATS_FILE_TMPDIR/espy
	"$PYTHON3" "$PEERS/eventstore.py" notify --pyout "$ESPY" x > /dev/null
	server es "$PYTHON3" "$PEERS/eventstore.py" serve --pyout "$ESPY" --events 3
	"$PYTHON3" "$PEERS/eventstore.py" notify --pyout "$ESPY" inv1 inv2 > in.bin
	resolve --endpoint "grpc://127.0.0.1:$PORT" < in.bin > out.bin
	[ "$(evcat out.bin | wc -l)" -eq 6 ]
	all_forms_valid out.bin
	evcat --data=json out.bin | grep -q '"dataschema":"https://type.googleapis.com/engflow.eventstore.v1.BuildProgressEvent","evpipetypes":"data=proto","data":{'
	# and what it passes on unresolved
	printf '{"specversion":"1.0","id":"x","source":"/s","type":"other","data":{"n":1}}\n' |
	    evcat -e | resolve --endpoint "grpc://127.0.0.1:$PORT" > other.bin
	all_forms_valid other.bin
}

@test "the SDK reads what store get and store scan write" {
	evcat -e "$DATA/events.jsonl" > ev.bin
	samples | pbref alltypes_pb2 $T json2bin | as_events $T |
	    sed 's/"id":"/"id":"s/' | evcat -e >> ev.bin
	store put -d s.db < ev.bin
	store scan -d s.db > scan.bin
	[ "$(evcat scan.bin | wc -l)" -eq 17 ]
	all_forms_valid scan.bin
	printf '1\n4\n5\n' | store get -d s.db > get.bin
	[ "$(evcat get.bin | wc -l)" -eq 3 ]
	all_forms_valid get.bin
}

@test "the SDK reads what pack-run --tee writes" {
	cat > pack.json <<-'END'
	{"name": "Shell", "labels": {"env": "test"},
	 "events": [{"name": "Ping"}],
	 "commands": [{"name": "Echo", "events": ["Echoed"],
	   "handler": "printf '{\"event\":\"Echoed\",\"payload\":%s}' \"$(cat)\""}]}
	END
	server api "$PYTHON3" "$PEERS/flyte_api.py"
	api=http://127.0.0.1:$PORT
	curl -sf -X POST -d '{"pack":"Shell","command":"Echo","input":{"big":12345678901234567890},"count":1}' \
	    "$api/_test/actions" > /dev/null
	printf '%s\n' '{"specversion":"1.0","id":"1","source":"/src","type":"Ping","data":{"n":1}}' |
	    evcat -e > in.bin
	pack-run -a "$api" -p pack.json --poll-interval 100ms --health-port 0 \
	    --tee < in.bin > tee.bin 2> pr.err &
	pid=$!
	echo "$pid" >> "$BATS_TEST_TMPDIR/pids"
	for i in $(seq 300); do
		[ "$(evcat tee.bin 2> /dev/null | wc -l)" -ge 2 ] && break
		sleep 0.1
	done
	kill -TERM "$pid"
	wait "$pid" || true
	[ "$(evcat tee.bin | wc -l)" -eq 2 ]
	all_forms_valid tee.bin
	# the handler's number came through as it was written
	evcat tee.bin | grep -qF '12345678901234567890'
}
