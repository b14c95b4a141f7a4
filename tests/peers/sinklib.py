"""What forward's test sinks (demo_sink.py, bes_sink.py, store_sink.py)
share: the command line common to them, a JSON-lines log, and a grpcio
server on loopback or a unix socket, cleartext or TLS (--tls CERT KEY),
that prints "port N" once listening and stops on SIGTERM.

The Python protobuf modules come from --pyout (default $FWD_PYOUT): the
directory tests/peers/gen-forward wrote them to.  Services are served
through generic handlers, so no grpc_python_plugin output is needed."""
import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from concurrent import futures

import grpc

CODES = {c.name: c for c in grpc.StatusCode}


def arguments(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--port", type=int, default=0,
                    help="TCP port on 127.0.0.1 (0: a free one)")
    ap.add_argument("--unix", metavar="PATH",
                    help="listen on this unix socket instead")
    ap.add_argument("--pyout", default=os.environ.get("FWD_PYOUT"))
    ap.add_argument("--log", metavar="FILE",
                    help="append one JSON line per request")
    ap.add_argument("--log-times", action="store_true",
                    help='add "t" (time.time()) to every log line')
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"),
                    help="serve TLS with this certificate and key (PEM)")
    ap.add_argument("--hold", action="append", default=[],
                    metavar="KEY=FILE",
                    help="hold the reply for KEY until FILE exists "
                    "(what KEY names is the sink's)")
    ap.add_argument("--jitter-ms", type=int, default=0,
                    help="wait a random 0..MS before each reply")
    ap.add_argument("--seed", type=int, default=1,
                    help="of the --jitter-ms delays")
    return ap


class Holds:
    """--hold KEY=FILE and --jitter-ms: wait(key) returns once FILE
    exists (polled every 20 ms, at most 120 s) for a held key, after a
    random delay of up to --jitter-ms (seeded: --seed)."""

    def __init__(self, args):
        self.files = {}
        for h in args.hold:
            key, sep, path = h.partition("=")
            if not sep:
                sys.exit("--hold %s: not KEY=FILE" % h)
            self.files[key] = path
        self.jitter_ms = args.jitter_ms
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()

    def jitter(self):
        if self.jitter_ms:
            with self.lock:
                ms = self.rng.uniform(0, self.jitter_ms)
            time.sleep(ms / 1000)

    def hold(self, key):
        path = self.files.get(key)
        if path is None:
            return
        deadline = time.monotonic() + 120
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.02)

    def wait(self, key):
        self.jitter()
        self.hold(key)


LOG_TIMES = False


def load_path(args):
    """Find the modules; and take the common options that need nothing
    of the sink (--log-times)."""
    global LOG_TIMES
    LOG_TIMES = args.log_times
    if not args.pyout:
        sys.exit("--pyout (or FWD_PYOUT) is needed")
    sys.path.insert(0, args.pyout)


def code(name):
    try:
        return CODES[name]
    except KeyError:
        sys.exit("unknown status code " + name)


class Log:
    """JSON lines, appended and flushed one by one (the tests read them
    while the sink runs, and after it was killed), each with the time it
    was written as "t" with --log-times.  A sink writes its line before
    it answers, so that what it acknowledged is in the log even when it
    is killed right after."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.f = open(path, "a", encoding="utf-8") if path else None

    def write(self, rec):
        if self.f is None:
            return
        if LOG_TIMES:
            rec = dict(rec, t=time.time())
        line = json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n"
        with self.lock:
            self.f.write(line)
            self.f.flush()


def metadata(ctx):
    return [[k, v if isinstance(v, str) else v.hex()]
            for k, v in ctx.invocation_metadata()]


def serve(args, handlers):
    """Serve the generic handlers until SIGTERM/SIGINT (exit 0, without
    waiting for handlers still running)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers),
                         handlers=handlers,
                         options=[("grpc.so_reuseport", 0)])
    address = "unix:" + args.unix if args.unix else "127.0.0.1:%d" % args.port
    if args.tls:
        with open(args.tls[0], "rb") as c, open(args.tls[1], "rb") as k:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port(address, creds)
    else:
        port = server.add_insecure_port(address)
    if args.unix:
        port = 0
    server.start()
    print("port %d" % port, flush=True)
    done = threading.Event()

    def stop(signo, frame):
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    done.wait()
    server.stop(1).wait()
    # Handlers may still sleep (--delay-ms): do not wait for them.
    sys.stdout.flush()
    os._exit(0)
