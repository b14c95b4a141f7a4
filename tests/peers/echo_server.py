#!/usr/bin/python3
"""grpcio's side of the interop tests: a server for evpipe.test.Echo
(tests/proto/echo.proto, whose rules it follows) and grpc.health.v1.Health.

  echo_server.py [--port N] [--host 127.0.0.1] [--tls CERT KEY]
                 [--client-ca CA] [--max-recv BYTES] [--pyout DIR]
                 [--log FILE] [--health SERVICE=STATUS]... [--workers N]

Binds (port 0: a free one), prints "port N" on stdout, then serves until
SIGTERM or SIGINT (graceful stop, exit 0).  SIGUSR1 sets every health
status to NOT_SERVING, SIGUSR2 back to SERVING (Watch streams see it).
--pyout (default $ECHO_PYOUT) is the directory tests/peers/gen wrote.
--log appends one JSON line per call: method, the request metadata as
grpcio shows it, the time remaining when a deadline was set, the TLS
auth context.  Run it with Debian's /usr/bin/python3 (python3-grpcio)."""
import argparse
import functools
import json
import os
import signal
import sys
import threading
import time
from concurrent import futures

import grpc

MIB = 1024 * 1024
CODES = {c.value[0]: c for c in grpc.StatusCode}
ECHO_SERVICE = "evpipe.test.Echo"


def pattern(n):
    """n payload bytes: 00 01 .. ff 00 01 .., as echo_client.py sends."""
    block = bytes(range(256))
    return (block * (n // 256 + 1))[:n]


def md_value(v):
    return v.hex() if isinstance(v, bytes) else v


class CallLog:
    """One JSON line per call, appended to FILE (flushed each time)."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def write(self, method, ctx):
        if not self.path:
            return
        rec = {
            "method": method,
            "metadata": [[k, md_value(v)] for k, v in ctx.invocation_metadata()],
            "peer": ctx.peer(),
        }
        # grpcio gives a huge number, not None, when no deadline was set.
        left = ctx.time_remaining()
        if left is not None and left < 1e9:
            rec["timeout"] = round(left)
            rec["time_remaining_ms"] = int(left * 1000)
        auth = ctx.auth_context()
        if auth:
            rec["auth"] = {
                k: [v.decode("utf-8", "replace") for v in vs]
                for k, vs in auth.items()
                if "pem" not in k  # whole certificates: too long
            }
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        with self.lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line)


def logged(method):
    """Log the call under its full method name, then run the handler."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(self, request, ctx):
            self.log.write(method, ctx)
            return fn(self, request, ctx)

        return wrapper

    return deco


def echo_trailers(ctx):
    """Request metadata named x-* comes back as trailing metadata."""
    md = [(k, v) for k, v in ctx.invocation_metadata() if k.startswith("x-")]
    if md:
        ctx.set_trailing_metadata(md)


def sleep_ms(ctx, ms):
    """Sleep in small steps; False if the call ended meanwhile (cancelled,
    deadline passed)."""
    end = time.monotonic() + ms / 1000
    while ctx.is_active():
        left = end - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(left, 0.02))
    return False


def end_status(ctx, req):
    """status != 0 in the (first) request: end the call with it.  Codes
    outside 1..16 cannot be sent by grpcio and become UNKNOWN."""
    if req is not None and req.status:
        ctx.set_code(CODES.get(req.status, grpc.StatusCode.UNKNOWN))
        ctx.set_details(req.status_message)


def load_modules(pyout):
    if pyout:
        sys.path.insert(0, pyout)
    try:
        import echo_pb2, echo_pb2_grpc, health_pb2, health_pb2_grpc
    except ImportError as e:
        sys.exit(f"echo_server.py: {e} (run tests/peers/gen DIR; give --pyout DIR)")
    return echo_pb2, echo_pb2_grpc, health_pb2, health_pb2_grpc


def main():
    ap = argparse.ArgumentParser(description="grpcio Echo test server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--client-ca", metavar="CA")
    ap.add_argument("--max-recv", type=int, metavar="BYTES", default=4 * MIB)
    ap.add_argument("--pyout", default=os.environ.get("ECHO_PYOUT"))
    ap.add_argument("--log", metavar="FILE")
    ap.add_argument("--health", action="append", default=[],
                    metavar="SERVICE=STATUS",
                    help="health status of a service (\"\" = the server)")
    ap.add_argument("--workers", type=int, default=64)
    args = ap.parse_args()
    if args.client_ca and not args.tls:
        ap.error("--client-ca needs --tls")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("--host must be a loopback address")

    echo_pb2, echo_pb2_grpc, health_pb2, health_pb2_grpc = load_modules(args.pyout)
    Reply = echo_pb2.EchoReply
    HResp = health_pb2.HealthCheckResponse

    class Echo(echo_pb2_grpc.EchoServicer):
        def __init__(self, log):
            self.log = log

        @logged("/evpipe.test.Echo/Unary")
        def Unary(self, req, ctx):
            echo_trailers(ctx)
            if req.sleep_ms > 0 and not sleep_ms(ctx, req.sleep_ms):
                return Reply()
            end_status(ctx, req)
            # grpcio sends this reply before a non-OK status, too.
            return Reply(text=req.text, payload=req.payload)

        @logged("/evpipe.test.Echo/ServerStream")
        def ServerStream(self, req, ctx):
            echo_trailers(ctx)
            if req.sleep_ms > 0 and not sleep_ms(ctx, req.sleep_ms):
                return
            # One template message; only index changes (cheap for 1e6 replies).
            reply = Reply(text=req.text, payload=pattern(max(req.size, 0)))
            for i in range(max(req.count, 0)):
                reply.index = i
                yield reply
            end_status(ctx, req)

        @logged("/evpipe.test.Echo/ClientStream")
        def ClientStream(self, reqs, ctx):
            echo_trailers(ctx)
            first, texts = None, []
            for r in reqs:
                if first is None:
                    first = r
                texts.append(r.text)
            if first is not None and first.sleep_ms > 0:
                if not sleep_ms(ctx, first.sleep_ms):
                    return Reply()
            end_status(ctx, first)
            return Reply(text=",".join(texts), count=len(texts))

        @logged("/evpipe.test.Echo/Bidi")
        def Bidi(self, reqs, ctx):
            echo_trailers(ctx)
            first = None
            for i, r in enumerate(reqs):
                if first is None:
                    first = r
                    if r.sleep_ms > 0 and not sleep_ms(ctx, r.sleep_ms):
                        return
                yield Reply(text=r.text, payload=r.payload, index=i)
            end_status(ctx, first)

    class Health(health_pb2_grpc.HealthServicer):
        """grpc.health.v1 as grpcio's own servicer behaves: Check of an
        unknown service is NOT_FOUND; Watch sends the status now and on
        every change (SERVICE_UNKNOWN for unknown ones) and, when the
        server shuts down, NOT_SERVING and then ends with OK."""

        def __init__(self, log, statuses):
            self.log = log
            self.statuses = statuses
            self.cond = threading.Condition()
            self.stopping = False

        def set_all(self, status, stopping=False):
            with self.cond:
                for k in self.statuses:
                    self.statuses[k] = status
                self.stopping = self.stopping or stopping
                self.cond.notify_all()

        @logged("/grpc.health.v1.Health/Check")
        def Check(self, req, ctx):
            with self.cond:
                st = self.statuses.get(req.service)
            if st is None:
                ctx.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
            return HResp(status=st)

        @logged("/grpc.health.v1.Health/Watch")
        def Watch(self, req, ctx):
            last = None
            while ctx.is_active():
                with self.cond:
                    st = self.statuses.get(req.service, HResp.SERVICE_UNKNOWN)
                    stopping = self.stopping
                    if st == last and not stopping:
                        self.cond.wait(0.1)  # wake up to see cancellation
                        continue
                if st != last:
                    last = st
                    yield HResp(status=st)
                if stopping:
                    return

    def status_value(name):
        try:
            return HResp.ServingStatus.Value(name)
        except ValueError:
            ap.error(f"--health: unknown status {name}")

    statuses = {"": HResp.SERVING, ECHO_SERVICE: HResp.SERVING}
    for h in args.health:
        svc, sep, st = h.rpartition("=")
        if not sep:
            ap.error("--health wants SERVICE=STATUS")
        statuses[svc] = status_value(st)

    log = CallLog(args.log)
    health = Health(log, statuses)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=args.workers),
        options=[
            ("grpc.max_receive_message_length", args.max_recv),
            ("grpc.max_send_message_length", 64 * MIB),
        ],
    )
    echo_pb2_grpc.add_EchoServicer_to_server(Echo(log), server)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)

    host = f"[{args.host}]" if ":" in args.host else args.host
    addr = f"{host}:{args.port}"
    if args.tls:
        def read(p):
            with open(p, "rb") as f:
                return f.read()

        creds = grpc.ssl_server_credentials(
            [(read(args.tls[1]), read(args.tls[0]))],
            root_certificates=read(args.client_ca) if args.client_ca else None,
            require_client_auth=bool(args.client_ca),
        )
        port = server.add_secure_port(addr, creds)
    else:
        port = server.add_insecure_port(addr)
    if not port:
        sys.exit(f"echo_server.py: cannot bind {addr}")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: health.set_all(HResp.NOT_SERVING))
    signal.signal(signal.SIGUSR2, lambda *_: health.set_all(HResp.SERVING))

    server.start()
    print(f"port {port}", flush=True)
    while not stop.wait(0.5):
        pass
    health.set_all(HResp.NOT_SERVING, stopping=True)
    server.stop(grace=2).wait()


if __name__ == "__main__":
    main()
