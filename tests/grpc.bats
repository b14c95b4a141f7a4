#!/usr/bin/env bats
# The gRPC transport against grpcio (gRPC C core, from Debian's
# python3-grpcio): our client -> grpcio server, grpcio client -> our
# server, in cleartext and TLS.  tests/grpc/echo drives our side.

load helpers

ECHO=$EVPIPE_BUILDDIR/tests/grpc/echo

setup_file() {
	export PYOUT=$BATS_FILE_TMPDIR/pyout
	"$PEERS/gen" "$PYOUT"
	make_certs "$BATS_FILE_TMPDIR/pki"
}

setup() {
	setup_tmp
}

teardown() {
	stop_servers
}

# A CA, a server certificate for 127.0.0.1 and localhost, one for
# another name, a client certificate, and a second (wrong) CA.
make_certs() {
	local d=$1
	mkdir -p "$d" && cd "$d" || return 1
	for ca in ca otherca; do
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$ca" \
		    -keyout $ca.key -out $ca.pem 2>/dev/null
	done
	cert() {	# cert NAME SUBJECT SAN
		openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" \
		    -keyout "$1.key" -out "$1.csr" 2>/dev/null
		printf 'subjectAltName=%s\n' "$3" > "$1.ext"
		openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key \
		    -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
	}
	cert server localhost "IP:127.0.0.1,DNS:localhost"
	cert elsewhere elsewhere.example "DNS:elsewhere.example"
	cert client client "DNS:client"
	cd - > /dev/null
}

PKI() { echo "$BATS_FILE_TMPDIR/pki/$1"; }

# start_server NAME COMMAND...: run a server that prints "port N", wait
# for that line, and set $PORT.
start_server() {
	local name=$1 i
	shift
	"$@" > "$name.out" 2> "$name.err" &
	echo $! >> servers.pid
	for i in $(seq 200); do
		PORT=$(sed -n 's/^port //p' "$name.out")
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	cat "$name.err" >&2
	return 1
}

py_server() { start_server py "$PYTHON3" "$PEERS/echo_server.py" --pyout "$PYOUT" "$@"; }
c_server() { start_server c "$ECHO" server "$@"; }
py_client() { "$PYTHON3" "$PEERS/echo_client.py" --pyout "$PYOUT" "$@"; }

stop_servers() {
	[ -f "$BATS_TEST_TMPDIR/servers.pid" ] || return 0
	while read -r pid; do
		kill -CONT "$pid" 2>/dev/null
		kill "$pid" 2>/dev/null
	done < "$BATS_TEST_TMPDIR/servers.pid"
	wait 2>/dev/null || true
	rm -f "$BATS_TEST_TMPDIR/servers.pid"
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

@test "unary to grpcio, with ASCII and binary metadata" {
	py_server
	run "$ECHO" client "grpc://127.0.0.1:$PORT" unary --text hello \
	    --md x-token=abc --md x-blob-bin=00ff10
	[ "$status" -eq 0 ]
	jsub "${lines[0]}" '{"reply":{"text":"hello","index":0}}'
	jsub "$(last)" '{"status":"OK","code":0,"trailers":{"x-token":"abc","x-blob-bin":"00ff10"}}'
}

@test "our request headers as grpcio sees them" {
	py_server --log calls.log
	run "$ECHO" client "grpc://127.0.0.1:$PORT" unary --timeout 30
	[ "$status" -eq 0 ]
	grep -q '"user-agent": "evpipe/[0-9.]* grpc-python' calls.log ||
	    grep -q 'evpipe/' calls.log
}

@test "server streaming, client streaming and bidi with grpcio" {
	py_server
	run "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --text s \
	    --count 3 --size 10
	[ "$status" -eq 0 ] && [ "${#lines[@]}" -eq 4 ]
	jsub "${lines[2]}" '{"reply":{"text":"s","payload_len":10,"index":2}}'
	jsub "$(last)" '{"status":"OK"}'
	run "$ECHO" client "grpc://127.0.0.1:$PORT" client-stream --requests 3
	[ "$status" -eq 0 ]
	jsub "${lines[0]}" '{"reply":{"text":"m0,m1,m2","count":3}}'
	jsub "$(last)" '{"status":"OK"}'
	run "$ECHO" client "grpc://127.0.0.1:$PORT" bidi --requests 3
	[ "$status" -eq 0 ] && [ "${#lines[@]}" -eq 4 ]
	jsub "${lines[1]}" '{"reply":{"text":"m1","index":1}}'
	jsub "$(last)" '{"status":"OK"}'
}

@test "an error status with a non-ASCII message survives exactly" {
	py_server
	msg=$'\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n'
	run "$ECHO" client "grpc://127.0.0.1:$PORT" unary --status 2 \
	    --status-message "$msg"
	[ "$status" -eq 0 ]
	want=$("$PYTHON3" -c 'import json,sys; print(json.dumps({"status":"UNKNOWN","code":2,"details":sys.argv[1]}))' "$msg")
	jsub "$(last)" "$want"
	run "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --count 2 \
	    --status 9 --status-message "not now"
	jsub "$(last)" '{"status":"FAILED_PRECONDITION","code":9,"details":"not now"}'
	[ "${#lines[@]}" -eq 3 ]
}

@test "client deadline: DEADLINE_EXCEEDED, and grpcio saw grpc-timeout" {
	py_server --log calls.log
	run "$ECHO" client "grpc://127.0.0.1:$PORT" unary --sleep-ms 3000 \
	    --timeout 0.5
	[ "$status" -eq 0 ]
	jsub "$(last)" '{"status":"DEADLINE_EXCEEDED","code":4}'
}

@test "messages over 4 MiB are RESOURCE_EXHAUSTED both ways" {
	py_server
	run "$ECHO" client "grpc://127.0.0.1:$PORT" unary --payload 4194305
	jsub "$(last)" '{"status":"RESOURCE_EXHAUSTED","code":8}'
	run "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --count 1 \
	    --size 4194305
	jsub "$(last)" '{"status":"RESOURCE_EXHAUSTED","code":8}'
	run "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --count 1 \
	    --size 4194305 --max-recv 5000000
	jsub "$(last)" '{"status":"OK"}'
}

@test "10000 messages on one stream, 100 concurrent calls on one connection" {
	py_server
	run "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --count 10000 \
	    --size 20 --quiet-replies
	jsub "${lines[0]}" '{"replies":10000,"bytes":'$((10000 * 24))'}' ||
	    jsub "${lines[0]}" '{"replies":10000}'
	jsub "$(last)" '{"status":"OK"}'
	run "$ECHO" client "grpc://127.0.0.1:$PORT" bidi --requests 10000 \
	    --quiet-replies
	jsub "${lines[0]}" '{"replies":10000}'
	run "$ECHO" client "grpc://127.0.0.1:$PORT" unary --concurrent 100
	jsub "$(last)" '{"concurrent":100,"ok":100}'
}

@test "grpcio client to our server: the four kinds, metadata, errors" {
	c_server
	run py_client "127.0.0.1:$PORT" unary --text hi --md x-a=b
	[ "$status" -eq 0 ]
	jsub "${lines[0]}" '{"reply":{"text":"hi"}}'
	jsub "$(last)" '{"status":"OK","trailers":{"x-a":"b"}}'
	run py_client "127.0.0.1:$PORT" server-stream --count 5 --size 7
	[ "${#lines[@]}" -eq 6 ]
	jsub "${lines[4]}" '{"reply":{"index":4,"payload_len":7}}'
	jsub "$(last)" '{"status":"OK"}'
	run py_client "127.0.0.1:$PORT" client-stream --requests 4
	jsub "${lines[0]}" '{"reply":{"text":"m0,m1,m2,m3","count":4}}'
	run py_client "127.0.0.1:$PORT" bidi --requests 4
	[ "${#lines[@]}" -eq 5 ]
	jsub "$(last)" '{"status":"OK"}'
	run py_client "127.0.0.1:$PORT" unary --status 5 --status-message "nöt found ☺"
	jsub "$(last)" '{"status":"NOT_FOUND","code":5,"details":"nöt found ☺"}'
}

@test "grpcio client to our server: deadline, size limit, concurrency" {
	c_server
	run py_client "127.0.0.1:$PORT" unary --sleep-ms 3000 --timeout 0.5
	jsub "$(last)" '{"status":"DEADLINE_EXCEEDED"}'
	run py_client "127.0.0.1:$PORT" unary --text big --size 0 \
	    --payload-size 4194305
	jsub "$(last)" '{"status":"RESOURCE_EXHAUSTED"}'
	run py_client "127.0.0.1:$PORT" unary --concurrent 100
	jsub "$(printf '%s\n' "$output" | grep '"concurrent"')" \
	    '{"concurrent":100,"ok":100}'
}

@test "health Check and Watch answered to grpcio" {
	c_server
	run py_client "127.0.0.1:$PORT" health-check
	jsub "${lines[0]}" '{"health":"SERVING"}'
	run py_client "127.0.0.1:$PORT" health-check --service nosuch
	jsub "$(last)" '{"status":"NOT_FOUND"}'
	run py_client "127.0.0.1:$PORT" health-watch --timeout 1
	jsub "${lines[0]}" '{"health":"SERVING"}'
	jsub "$(last)" '{"status":"DEADLINE_EXCEEDED"}'
}

@test "TLS to grpcio: good CA; wrong CA, wrong name, no client cert fail" {
	py_server --tls "$(PKI server.pem)" "$(PKI server.key)"
	run "$ECHO" client "grpcs://127.0.0.1:$PORT" unary --cacert "$(PKI ca.pem)"
	jsub "$(last)" '{"status":"OK"}'
	run "$ECHO" client "grpcs://localhost:$PORT" unary --cacert "$(PKI ca.pem)"
	jsub "$(last)" '{"status":"OK"}'
	run "$ECHO" client "grpcs://127.0.0.1:$PORT" unary --cacert "$(PKI otherca.pem)"
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
	[[ "$(last)" == *"certificate"* ]]
	stop_servers
	py_server --tls "$(PKI elsewhere.pem)" "$(PKI elsewhere.key)"
	run "$ECHO" client "grpcs://localhost:$PORT" unary --cacert "$(PKI ca.pem)"
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
	[[ "$(last)" == *"hostname mismatch"* ]]
	stop_servers
	py_server --tls "$(PKI server.pem)" "$(PKI server.key)" --client-ca "$(PKI ca.pem)"
	run "$ECHO" client "grpcs://127.0.0.1:$PORT" unary --cacert "$(PKI ca.pem)"
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
	run "$ECHO" client "grpcs://127.0.0.1:$PORT" unary --cacert "$(PKI ca.pem)" \
	    --cert "$(PKI client.pem)" --key "$(PKI client.key)"
	jsub "$(last)" '{"status":"OK"}'
}

@test "TLS from grpcio to our server, with and without client certs" {
	c_server -l grpcs://127.0.0.1:0 --cert "$(PKI server.pem)" --key "$(PKI server.key)"
	run py_client "127.0.0.1:$PORT" unary --tls "$(PKI ca.pem)" --text t
	jsub "$(last)" '{"status":"OK"}'
	stop_servers
	c_server -l grpcs://127.0.0.1:0 --cert "$(PKI server.pem)" --key "$(PKI server.key)" \
	    --client-ca "$(PKI ca.pem)"
	run py_client "127.0.0.1:$PORT" unary --tls "$(PKI ca.pem)"
	jsub "$(last)" '{"status":"UNAVAILABLE"}'
	run py_client "127.0.0.1:$PORT" unary --tls "$(PKI ca.pem)" \
	    --cert "$(PKI client.pem)" --key "$(PKI client.key)"
	jsub "$(last)" '{"status":"OK"}'
}

@test "server killed mid-stream: UNAVAILABLE; a new call connects again" {
	py_server
	"$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --count 100000 \
	    --size 1000 --slow-ms 1 > out.jsonl &
	client=$!
	sleep 1
	kill -9 "$(head -1 servers.pid)"
	wait "$client"
	jsub "$(tail -1 out.jsonl)" '{"status":"UNAVAILABLE","code":14}'
	rm servers.pid
	py_server
	run "$ECHO" client "grpc://127.0.0.1:$PORT" unary
	jsub "$(last)" '{"status":"OK"}'
}

@test "nothing listening: UNAVAILABLE; bad URLs are usage errors" {
	run "$ECHO" client grpc://127.0.0.1:1 unary
	jsub "$(last)" '{"status":"UNAVAILABLE","code":14}'
	run "$ECHO" client http://x unary
	[ "$status" -eq 64 ]
	[[ "$output" == *"not a grpc://, grpcs:// or unix: address"* ]]
	run "$ECHO" client grpc://x:99999 unary
	[ "$status" -eq 64 ]
	[[ "$output" == *"port must be a number from 1 to 65535"* ]]
}

@test "a slow consumer bounds memory: 1 GB stream, RSS under 32 MiB" {
	c_server
	run "$ECHO" client "grpc://127.0.0.1:$PORT" server-stream --count 10000 \
	    --size 100000 --slow-ms 0 --quiet-replies
	jsub "${lines[0]}" '{"replies":10000}'
	rss=$("$PYTHON3" -c 'import json,sys; print(json.loads(sys.argv[1])["rss_kb"])' "${lines[0]}")
	echo "peak RSS ${rss} KiB"
	# ASan's shadow memory and quarantine add their own; the bound is
	# for the real build.
	if [ -n "${EVPIPE_SANITIZERS:-}" ]; then
		[ "$rss" -lt 131072 ]
	else
		[ "$rss" -lt 32768 ]
	fi
}

@test "through an HTTP CONNECT proxy" {
	py_server
	target=$PORT
	start_server proxy "$PYTHON3" "$PEERS/connect_proxy.py"
	run "$ECHO" client "grpc://127.0.0.1:$target" unary \
	    --proxy "http://127.0.0.1:$PORT"
	jsub "$(last)" '{"status":"OK"}'
	grep -q "127.0.0.1:$target" proxy.err
}

reflect() { "$PYTHON3" "$PEERS/reflect_client.py" --pyout "$PYOUT" "127.0.0.1:$PORT" "$@"; }

@test "reflection: services, files, symbols and errors, v1 and v1alpha" {
	c_server
	run reflect list file:health.proto symbol:evpipe.test.Echo \
	    symbol:evpipe.test.Echo.Bidi symbol:evpipe.test.EchoRequest.payload \
	    symbol:grpc.health.v1.HealthCheckResponse.ServingStatus \
	    symbol:grpc.health.v1.HealthCheckResponse.SERVING \
	    symbol:google.rpc.Status symbol:nosuch.Thing file:nosuch.proto \
	    ext:google.rpc.Status:7 extnums:google.rpc.Status extnums:nosuch.T none
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 15 ]
	jsub "${lines[0]}" '{"services":["evpipe.test.Echo","grpc.health.v1.Health","grpc.reflection.v1.ServerReflection","grpc.reflection.v1alpha.ServerReflection"],"echo":"list"}'
	jsub "${lines[1]}" '{"files":["health.proto"],"echo":"file:health.proto"}'
	jsub "${lines[2]}" '{"files":["echo.proto"]}'
	jsub "${lines[3]}" '{"files":["echo.proto"]}'
	jsub "${lines[4]}" '{"files":["echo.proto"]}'
	jsub "${lines[5]}" '{"files":["health.proto"]}'
	jsub "${lines[6]}" '{"files":["health.proto"]}'
	# a file comes with what it imports
	jsub "${lines[7]}" '{"files":["google/rpc/status.proto","google/protobuf/any.proto"]}'
	jsub "${lines[8]}" '{"error":{"code":5},"echo":"symbol:nosuch.Thing"}'
	jsub "${lines[9]}" '{"error":{"code":5}}'
	jsub "${lines[10]}" '{"error":{"code":5},"echo":"ext:google.rpc.Status:7"}'
	jsub "${lines[11]}" '{"extension_numbers":{"type":"google.rpc.Status","numbers":[]}}'
	jsub "${lines[12]}" '{"error":{"code":5}}'
	jsub "${lines[13]}" '{"error":{"code":12},"echo":"none"}'
	jsub "$(last)" '{"status":"OK"}'
	run reflect --v1alpha --host myhost list symbol:grpc.reflection.v1alpha.ServerReflection
	jsub "${lines[0]}" '{"services":["evpipe.test.Echo","grpc.health.v1.Health","grpc.reflection.v1.ServerReflection","grpc.reflection.v1alpha.ServerReflection"],"host":"myhost"}'
	jsub "${lines[1]}" '{"files":["grpc/reflection/v1alpha/reflection.proto"]}'
	jsub "$(last)" '{"status":"OK"}'
}

@test "reflection: a client that knows no .proto calls every kind" {
	c_server
	run reflect call /evpipe.test.Echo/Unary '{"text":"hi","payload":"AAEC"}'
	jsub "${lines[0]}" '{"method":{"input":"evpipe.test.EchoRequest","output":"evpipe.test.EchoReply","client_streaming":false,"server_streaming":false}}'
	jsub "${lines[1]}" '{"reply":{"text":"hi","payload":"AAEC"}}'
	jsub "$(last)" '{"status":"OK"}'
	run reflect call /evpipe.test.Echo/ServerStream '{"text":"s","count":3}'
	jsub "${lines[0]}" '{"method":{"client_streaming":false,"server_streaming":true}}'
	[ "${#lines[@]}" -eq 5 ]
	jsub "${lines[3]}" '{"reply":{"text":"s","index":2}}'
	run reflect call /evpipe.test.Echo/Bidi '[{"text":"a"},{"text":"b"}]'
	jsub "${lines[0]}" '{"method":{"client_streaming":true,"server_streaming":true}}'
	jsub "${lines[2]}" '{"reply":{"text":"b","index":1}}'
	run reflect call /grpc.health.v1.Health/Check '{}'
	jsub "${lines[1]}" '{"reply":{"status":"SERVING"}}'
	# reflection describes itself: a bidi stream
	run reflect call /grpc.reflection.v1.ServerReflection/ServerReflectionInfo \
	    '[{"fileByFilename":"health.proto"},{"listServices":""}]'
	jsub "${lines[0]}" '{"method":{"client_streaming":true,"server_streaming":true}}'
	jsub "${lines[2]}" '{"reply":{"originalRequest":{"listServices":""},"listServicesResponse":{"service":[{"name":"evpipe.test.Echo"},{"name":"grpc.health.v1.Health"},{"name":"grpc.reflection.v1.ServerReflection"},{"name":"grpc.reflection.v1alpha.ServerReflection"}]}}}'
	jsub "$(last)" '{"status":"OK"}'
}

@test "reflection: 2000 requests on one stream, answered in order" {
	c_server
	args=()
	for i in $(seq 1000); do args+=(symbol:google.rpc.Status "file:f$i.proto"); done
	run reflect "${args[@]}"
	[ "${#lines[@]}" -eq 2001 ]
	jsub "${lines[1998]}" '{"files":["google/rpc/status.proto","google/protobuf/any.proto"]}'
	jsub "${lines[1999]}" '{"error":{"code":5},"echo":"file:f1000.proto"}'
	jsub "$(last)" '{"status":"OK"}'
}
