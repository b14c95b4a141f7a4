#!/usr/bin/python3
"""grpcio's side of the interop tests: a client for evpipe.test.Echo
(tests/proto/echo.proto) and grpc.health.v1.Health.

  echo_client.py TARGET METHOD [options]

TARGET is host:port ([::1]:port), METHOD one of unary, server-stream,
client-stream, bidi, health-check, health-watch.  Prints JSON lines on
stdout: one per reply {"reply": {...}} (or {"health": "SERVING"}), then
always a final status line
  {"status": "OK", "code": 0, "details": "", "trailers": {...}, "headers": {...}}
(metadata values of "-bin" keys as hex, repeated keys joined with ",").
Exit 0 whenever that line is printed, whatever the gRPC status; 2 for
usage errors.  --pyout (default $ECHO_PYOUT) is the directory
tests/peers/gen wrote.  Run it with Debian's /usr/bin/python3."""
import argparse
import json
import os
import re
import sys

import grpc

MIB = 1024 * 1024
METHODS = ("unary", "server-stream", "client-stream", "bidi",
           "health-check", "health-watch")


def pattern(n):
    """n payload bytes: 00 01 .. ff 00 01 .., as echo_server.py sends."""
    block = bytes(range(256))
    return (block * (n // 256 + 1))[:n]


def emit(obj):
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def md_dict(md):
    out = {}
    for k, v in md or ():
        v = v.hex() if isinstance(v, bytes) else v
        out[k] = out[k] + "," + v if k in out else v
    return out


def status_line(call, code=None, details=None):
    """The final line, from a finished call or a grpc.RpcError."""
    code = code or call.code()
    emit({
        "status": code.name,
        "code": code.value[0],
        "details": details if details is not None else (call.details() or ""),
        "trailers": md_dict(call.trailing_metadata()),
        "headers": md_dict(call.initial_metadata()),
    })


def parse_args():
    ap = argparse.ArgumentParser(description="grpcio Echo test client")
    ap.add_argument("target", metavar="TARGET")
    ap.add_argument("method", metavar="METHOD", choices=METHODS)
    ap.add_argument("--text", default="")
    ap.add_argument("--count", type=int, default=0, help="request.count")
    ap.add_argument("--size", type=int, default=0,
                    help="request.size (server-stream reply payload bytes)")
    ap.add_argument("--payload-size", type=int, default=0, metavar="N",
                    help="N payload bytes in each request")
    ap.add_argument("--payload-hex", metavar="HEX",
                    help="exact payload bytes of each request")
    ap.add_argument("--show-payload", action="store_true",
                    help="add the reply payload (hex) to reply lines")
    ap.add_argument("--status", type=int, default=0)
    ap.add_argument("--status-message", default="")
    ap.add_argument("--sleep-ms", type=int, default=0)
    ap.add_argument("--requests", type=int, default=1,
                    help="client-stream/bidi: requests to send (texts m0, m1..)")
    ap.add_argument("--timeout", type=float, metavar="SECONDS")
    ap.add_argument("--md", action="append", default=[], metavar="KEY=VALUE",
                    help="request metadata; VALUE is hex for -bin keys")
    ap.add_argument("--tls", metavar="CA", help="TLS, trusting this CA")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--authority", metavar="NAME")
    ap.add_argument("--proxy", metavar="URL",
                    help="HTTP CONNECT proxy (grpc.http_proxy); without it "
                    "the *_proxy environment variables are ignored")
    ap.add_argument("--service", default="", help="health: service name")
    ap.add_argument("--max-recv", type=int, default=4 * MIB, metavar="BYTES")
    ap.add_argument("--keepalive-ms", type=int, metavar="MS",
                    help="ping every MS, with or without calls or data "
                    "(aggressive on purpose: for ping enforcement tests)")
    ap.add_argument("--concurrent", type=int, metavar="N",
                    help="unary: N calls at once on one channel")
    ap.add_argument("--quiet-replies", action="store_true",
                    help="no reply lines, one {\"replies\": N, \"bytes\": M}")
    ap.add_argument("--pyout", default=os.environ.get("ECHO_PYOUT"))
    args = ap.parse_args()

    if bool(args.cert) != bool(args.key):
        ap.error("--cert and --key go together")
    if args.cert and not args.tls:
        ap.error("--cert needs --tls")
    if args.concurrent is not None and (args.method != "unary" or args.concurrent < 1):
        ap.error("--concurrent N (N >= 1) is for unary")
    md = []
    for item in args.md:
        k, sep, v = item.partition("=")
        if not sep or not re.fullmatch(r"[0-9a-z_.-]+", k):
            ap.error(f"--md {item!r}: want KEY=VALUE, KEY in [0-9a-z_.-]")
        if k.endswith("-bin"):
            try:
                v = bytes.fromhex(v)
            except ValueError:
                ap.error(f"--md {k}: value must be hex")
        elif not re.fullmatch(r"[\x20-\x7e]*", v):
            ap.error(f"--md {k}: value must be printable ASCII")
        md.append((k, v))
    args.md = md
    if args.payload_hex is not None:
        try:
            args.payload = bytes.fromhex(args.payload_hex)
        except ValueError:
            ap.error("--payload-hex: not hex")
    else:
        args.payload = pattern(args.payload_size)
    return args


def make_channel(args):
    options = [
        ("grpc.max_receive_message_length", args.max_recv),
        ("grpc.max_send_message_length", 64 * MIB),
    ]
    if args.keepalive_ms:
        options += [("grpc.keepalive_time_ms", args.keepalive_ms),
                    ("grpc.keepalive_timeout_ms", 20000),
                    ("grpc.keepalive_permit_without_calls", 1),
                    ("grpc.http2.max_pings_without_data", 0)]
    if args.proxy:
        options.append(("grpc.http_proxy", args.proxy))
    else:
        options.append(("grpc.enable_http_proxy", 0))
    if args.authority:
        options.append(("grpc.default_authority", args.authority))
    if not args.tls:
        return grpc.insecure_channel(args.target, options=options)

    def read(p):
        with open(p, "rb") as f:
            return f.read()

    creds = grpc.ssl_channel_credentials(
        root_certificates=read(args.tls),
        private_key=read(args.key) if args.key else None,
        certificate_chain=read(args.cert) if args.cert else None,
    )
    if args.authority:
        options.append(("grpc.ssl_target_name_override", args.authority))
    return grpc.secure_channel(args.target, creds, options=options)


def main():
    args = parse_args()
    if args.pyout:
        sys.path.insert(0, args.pyout)
    try:
        import echo_pb2, echo_pb2_grpc, health_pb2, health_pb2_grpc
    except ImportError as e:
        print(f"echo_client.py: {e} (run tests/peers/gen DIR; give --pyout DIR)",
              file=sys.stderr)
        sys.exit(2)

    def request(i=None):
        """The request; for streams, number i (the first carries the
        status, sleep and count/size fields)."""
        if i is None:
            text, first = args.text, True
        else:
            text, first = f"m{i}", i == 0
        r = echo_pb2.EchoRequest(text=text, payload=args.payload)
        if first:
            r.count, r.size = args.count, args.size
            r.status, r.status_message = args.status, args.status_message
            r.sleep_ms = args.sleep_ms
        return r

    def show(reply):
        rec = {"text": reply.text, "payload_len": len(reply.payload),
               "index": reply.index, "count": reply.count}
        if args.show_payload:
            rec["payload"] = reply.payload.hex()
        emit({"reply": rec})

    def stream(call):
        """Print the replies of a response stream, then its status."""
        n = nbytes = 0
        try:
            for reply in call:
                n += 1
                nbytes += len(reply.payload)
                if not args.quiet_replies:
                    show(reply)
        except grpc.RpcError:
            pass  # the status line below tells
        if args.quiet_replies:
            emit({"replies": n, "bytes": nbytes})
        status_line(call)

    def requests():
        return (request(i) for i in range(args.requests))

    kw = {"timeout": args.timeout, "metadata": args.md or None}
    channel = make_channel(args)
    echo = echo_pb2_grpc.EchoStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    HResp = health_pb2.HealthCheckResponse

    try:
        if args.method == "unary" and args.concurrent:
            concurrent(args, echo, request, kw)
        elif args.method == "unary":
            unary(echo.Unary, request(), kw, show)
        elif args.method == "client-stream":
            unary(echo.ClientStream, requests(), kw, show)
        elif args.method == "server-stream":
            stream(echo.ServerStream(request(), **kw))
        elif args.method == "bidi":
            stream(echo.Bidi(requests(), **kw))
        elif args.method == "health-check":
            req = health_pb2.HealthCheckRequest(service=args.service)
            unary(health.Check, req, kw,
                  lambda r: emit({"health": HResp.ServingStatus.Name(r.status)}))
        elif args.method == "health-watch":
            call = health.Watch(
                health_pb2.HealthCheckRequest(service=args.service), **kw)
            try:
                for r in call:
                    emit({"health": HResp.ServingStatus.Name(r.status)})
            except grpc.RpcError:
                pass
            status_line(call)
    finally:
        channel.close()


def unary(method, req, kw, show):
    """A call with one reply: print it if OK, then the status line."""
    try:
        reply, call = method.with_call(req, **kw)
    except grpc.RpcError as e:
        status_line(e)
        return
    show(reply)
    status_line(call)


def concurrent(args, echo, request, kw):
    """N unary calls in flight at once on the one channel; prints
    {"concurrent": N, "ok": K, "codes": {"OK": K, ...}}, then the status
    line of the first call that failed (or of the first call)."""
    calls = [echo.Unary.future(request(), **kw) for _ in range(args.concurrent)]
    codes = {}  # code() waits for its call to end
    for c in calls:
        codes[c.code().name] = codes.get(c.code().name, 0) + 1
    emit({"concurrent": len(calls), "ok": codes.get("OK", 0), "codes": codes})
    failed = [c for c in calls if c.code() != grpc.StatusCode.OK]
    status_line(failed[0] if failed else calls[0])


if __name__ == "__main__":
    main()
