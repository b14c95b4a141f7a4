#!/usr/bin/python3
"""Clients that misbehave on purpose, many at once, on loopback only.

  conn_flood.py idle PORT N [--hold S]
      Open N TCP connections, play the HTTP/2 connection preface and
      SETTINGS on each (RFC 9113 3.4) and read the server's SETTINGS,
      then say nothing more: print {"held": N} once all are handshaken,
      hold them S seconds (default: until stdin ends), and print one
      line of what the server did to them:
        {"held": N, "open": K, "closed": C, "goaway": {"NO_ERROR max_idle": G, ...}}
      (closed: the server closed the socket; goaway: GOAWAY frames seen,
      by error code and debug data).  Frames other than SETTINGS, PING
      and GOAWAY are counted under "other".
  conn_flood.py health PORT N [--timeout S] [--pyout DIR]
      N grpc.health.v1.Health/Check calls at once with grpcio, each on a
      channel (and connection) of its own; prints
        {"calls": N, "ok": K, "codes": {"OK": K, ...}, "seconds": T}
      Needs health_pb2 from tests/peers/gen_store in --pyout or
      $STORE_PYOUT.
  conn_flood.py watch PORT SECONDS [--pyout DIR]
      One grpc.health.v1.Health/Watch call held open SECONDS: prints
      {"watching": true} at its first answer, then {"alive": true} if it
      is still open at the end (else its status), and cancels it.
  conn_flood.py http PORT N
      A burst against an HTTP/1.1 server: N connections, every other one
      sending nothing and the others half a request (no final CRLF);
      then all are reset (SO_LINGER 0) or closed, alternately, at once.
      Prints {"burst": N}.
  conn_flood.py http-hold PORT IDLE HALF [--hold S] [--every S] [--path P]
      IDLE connections that send nothing and HALF that send half a
      request (no final CRLF), all held; meanwhile a GET PATH (default
      /health) on a connection of its own every S seconds (default 0.5),
      each given 2 seconds.  Ends when the server has closed every held
      connection or after --hold seconds (default 30), and prints
        {"held": N, "closed": C, "first_close": T0, "last_close": T1,
         "gets": G, "answered": A, "slowest": T, "statuses": {...}}
      (times in seconds since the burst was open; a GET that got no
      status line within 2 s counts as not answered).
"""
import argparse
import json
import os
import select
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS, PING, GOAWAY = 4, 6, 7
ACK = 0x1
CODES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR",
         7: "REFUSED_STREAM", 11: "ENHANCE_YOUR_CALM"}


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


class H2:
    """One raw connection: reads frames without blocking the others."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
        self.buf = b""
        self.settings = False
        self.closed = False
        self.frames = []

    def reply(self, b):
        try:
            self.sock.sendall(b)
        except OSError:
            pass  # the server closed it: on_readable sees the end

    def on_readable(self):
        try:
            chunk = self.sock.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            self.closed = True
            return
        self.buf += chunk
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + length:
                break
            ftype, flags = self.buf[3], self.buf[4]
            payload = self.buf[9:9 + length]
            self.buf = self.buf[9 + length:]
            if ftype == SETTINGS and not flags & ACK:
                self.settings = True
                self.reply(frame(SETTINGS, ACK, 0))
            elif ftype == PING and not flags & ACK:
                self.reply(frame(PING, ACK, 0, payload))
            elif ftype == GOAWAY:
                _, code = struct.unpack(">II", payload[:8])
                debug = payload[8:].decode("latin-1")
                self.frames.append(
                    (CODES.get(code, str(code)) + " " + debug).strip())
            elif ftype not in (SETTINGS, PING, 8):  # 8: WINDOW_UPDATE
                self.frames.append("other")


def pump(conns, until, deadline):
    """Read from every open connection until until() or the deadline."""
    while not until() and time.monotonic() < deadline:
        live = [c for c in conns if not c.closed]
        if not live:
            return
        r, _, _ = select.select([c.sock for c in live], [], [], 0.2)
        for c in live:
            if c.sock in r:
                c.on_readable()


def idle(args):
    conns = []
    for _ in range(args.n):
        conns.append(H2(args.port))
        # keep the kernel's accept queue short: read as we go
        pump(conns, lambda: True, 0)
    pump(conns, lambda: all(c.settings or c.closed for c in conns),
         time.monotonic() + 60)
    print(json.dumps({"held": args.n}), flush=True)
    if args.hold is not None:
        pump(conns, lambda: False, time.monotonic() + args.hold)
    else:
        # until stdin ends, reading meanwhile
        while True:
            r, _, _ = select.select([sys.stdin] + [c.sock for c in conns
                                                   if not c.closed], [], [])
            if sys.stdin in r and not os.read(sys.stdin.fileno(), 4096):
                break
            for c in conns:
                if not c.closed and c.sock in r:
                    c.on_readable()
    goaway = {}
    for c in conns:
        for f in c.frames:
            goaway[f] = goaway.get(f, 0) + 1
    closed = sum(c.closed for c in conns)
    print(json.dumps({"held": args.n, "open": args.n - closed,
                      "closed": closed, "goaway": goaway}), flush=True)


def health(args):
    sys.path.insert(0, args.pyout or os.environ.get("STORE_PYOUT", "."))
    import grpc
    import health_pb2

    req = health_pb2.HealthCheckRequest(service="")
    method = "/grpc.health.v1.Health/Check"
    start = time.monotonic()
    channels, futures = [], []
    for _ in range(args.n):
        ch = grpc.insecure_channel(
            "127.0.0.1:%d" % args.port,
            options=[("grpc.use_local_subchannel_pool", 1)])
        call = ch.unary_unary(
            method, request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString)
        channels.append(ch)
        futures.append(call.future(req, timeout=args.timeout))
    codes = {}
    for f in futures:
        try:
            f.result()
            name = "OK"
        except grpc.RpcError as e:
            name = e.code().name
            if name not in codes:
                print("conn_flood: %s: %s" % (name, e.details()),
                      file=sys.stderr, flush=True)
        codes[name] = codes.get(name, 0) + 1
    for ch in channels:
        ch.close()
    print(json.dumps({"calls": args.n, "ok": codes.get("OK", 0),
                      "codes": codes,
                      "seconds": round(time.monotonic() - start, 2)}),
          flush=True)


def watch(args):
    sys.path.insert(0, args.pyout or os.environ.get("STORE_PYOUT", "."))
    import grpc
    import health_pb2

    ch = grpc.insecure_channel("127.0.0.1:%d" % args.port,
                               options=[("grpc.use_local_subchannel_pool", 1)])
    call = ch.unary_stream(
        "/grpc.health.v1.Health/Watch",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString)
    stream = call(health_pb2.HealthCheckRequest(service=""))
    next(stream)
    print(json.dumps({"watching": True}), flush=True)
    time.sleep(args.seconds)
    if stream.is_active():
        print(json.dumps({"alive": True}), flush=True)
    else:
        print(json.dumps({"status": stream.code().name,
                          "details": stream.details()}), flush=True)
    stream.cancel()
    ch.close()


def http(args):
    socks = []
    for i in range(args.n):
        s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
        if i % 2:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    for i, s in enumerate(socks):
        if i % 4 < 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
        s.close()
    print(json.dumps({"burst": args.n}), flush=True)


def one_get(port, path):
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n"
                       "Connection: close\r\n\r\n" % path).encode())
            data = b""
            while b"\r\n" not in data:
                s.settimeout(max(0.01, 2 - (time.monotonic() - t0)))
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        status = data.split(b" ")[1].decode() if data.startswith(
            b"HTTP/1.") else None
    except OSError:
        status = None
    return status, time.monotonic() - t0


def http_hold(args):
    socks = []
    for i in range(args.idle + args.half):
        s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
        s.setblocking(False)
        if i >= args.idle:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    t0 = time.monotonic()
    open_ = set(socks)
    closes = []
    gets, answered, slowest, statuses = 0, 0, 0.0, {}
    next_get = t0
    while open_ and time.monotonic() - t0 < args.hold:
        now = time.monotonic()
        if now >= next_get:
            status, took = one_get(args.port, args.path)
            gets += 1
            slowest = max(slowest, took)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status is not None and took <= 2:
                answered += 1
            next_get = time.monotonic() + args.every
        r, _, _ = select.select(list(open_)[:1000], [], [],
                                max(0, min(0.1, next_get - time.monotonic())))
        for s in r:
            try:
                chunk = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                closes.append(time.monotonic() - t0)
                open_.discard(s)
                s.close()
    for s in open_:
        s.close()
    print(json.dumps({"held": len(socks), "closed": len(closes),
                      "first_close": round(min(closes), 2) if closes else None,
                      "last_close": round(max(closes), 2) if closes else None,
                      "gets": gets, "answered": answered,
                      "slowest": round(slowest, 2), "statuses": statuses}),
          flush=True)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    a = sub.add_parser("idle")
    a.add_argument("port", type=int)
    a.add_argument("n", type=int)
    a.add_argument("--hold", type=float)
    a = sub.add_parser("health")
    a.add_argument("port", type=int)
    a.add_argument("n", type=int)
    a.add_argument("--timeout", type=float, default=60)
    a.add_argument("--pyout")
    a = sub.add_parser("watch")
    a.add_argument("port", type=int)
    a.add_argument("seconds", type=float)
    a.add_argument("--pyout")
    a = sub.add_parser("http")
    a.add_argument("port", type=int)
    a.add_argument("n", type=int)
    a = sub.add_parser("http-hold")
    a.add_argument("port", type=int)
    a.add_argument("idle", type=int)
    a.add_argument("half", type=int)
    a.add_argument("--hold", type=float, default=30)
    a.add_argument("--every", type=float, default=0.5)
    a.add_argument("--path", default="/health")
    args = p.parse_args()
    {"idle": idle, "health": health, "watch": watch, "http": http,
     "http-hold": http_hold}[args.mode](args)


if __name__ == "__main__":
    main()
