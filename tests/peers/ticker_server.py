#!/usr/bin/python3
"""A grpcio server for evpipe.test.ticker.Ticker (tests/proto/ticker.proto)
with server reflection written from grpc/reflection/v1/reflection.proto
(Debian has no python3-grpcio-reflection), for subscribe's generic mode.

  ticker_server.py --pyout DIR [--port N] [--tls CERT KEY]
                   [--reflection v1|v1alpha|none] [--deps-apart]
                   [--log FILE]

--pyout DIR holds ticker_pb2 (protoc --python_out) and what tests/peers/gen
writes (reflection_v1_pb2, reflection_v1alpha_pb2).  Prints "port N" once
listening.

Watch(WatchRequest) sends `count` Ticks {seq: 1.., topic, at: since (when
set)}; with
`hang` it then waits until the call ends (the client's deadline or
cancellation), else ends with OK.

--reflection: the services it answers ServerReflectionInfo on (default v1;
v1alpha: only the older one; none: neither, so UNIMPLEMENTED).  An answer
to file_containing_symbol or file_by_filename holds the file and, as
grpcio-reflection does, every file it imports, transitively; with
--deps-apart only the file itself, so the client must ask for the imports
by name.  Unknown symbols and files get error_response NOT_FOUND.

--log FILE: one JSON line per call or reflection request:
  {"method": "/evpipe.test.ticker.Ticker/Watch", "request_hex": "0a03...",
   "metadata": [["x-k", "v"], ...], "timeout_ms": 2994}   (timeout_ms only
   with a deadline)
  {"reflection": "v1", "symbol": "evpipe.test.ticker.Ticker"}
  {"reflection": "v1", "file": "google/protobuf/timestamp.proto"}
"""
import argparse
import json
import os
import signal
import sys
import threading
from concurrent import futures

import grpc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--pyout", default=os.environ.get("ECHO_PYOUT"))
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--reflection", choices=("v1", "v1alpha", "none"),
                    default="v1")
    ap.add_argument("--deps-apart", action="store_true")
    ap.add_argument("--log", metavar="FILE")
    args = ap.parse_args()
    sys.path.insert(0, args.pyout)
    import ticker_pb2

    lock = threading.Lock()

    def log(rec):
        if args.log:
            with lock, open(args.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")

    def watch(raw, ctx):
        rec = {
            "method": "/evpipe.test.ticker.Ticker/Watch",
            "request_hex": raw.hex(),
            "metadata": [[k, v.hex() if isinstance(v, bytes) else v]
                         for k, v in ctx.invocation_metadata()],
        }
        left = ctx.time_remaining()
        if left is not None and left < 1e9:
            rec["timeout_ms"] = int(left * 1000)
        log(rec)
        req = ticker_pb2.WatchRequest.FromString(raw)
        for i in range(req.count):
            tick = ticker_pb2.Tick(seq=i + 1, topic=req.topic)
            if req.HasField("since"):
                tick.at.CopyFrom(req.since)
            yield tick
        if req.hang:
            done = threading.Event()
            ctx.add_callback(done.set)
            done.wait(60)

    handlers = [grpc.method_handlers_generic_handler(
        "evpipe.test.ticker.Ticker",
        {"Watch": grpc.unary_stream_rpc_method_handler(
            watch, request_deserializer=None,
            response_serializer=ticker_pb2.Tick.SerializeToString)})]

    pool = ticker_pb2.DESCRIPTOR.pool

    def closure(fd):
        out, todo = [], [fd]
        while todo:
            f = todo.pop(0)
            if f.name in [o.name for o in out]:
                continue
            out.append(f)
            if not args.deps_apart:
                todo.extend(f.dependencies)
        return out

    def reflection(version, R):
        def info(reqs, ctx):
            for q in reqs:
                resp = R.ServerReflectionResponse(valid_host=q.host)
                resp.original_request.CopyFrom(q)
                which = q.WhichOneof("message_request")
                try:
                    if which == "file_containing_symbol":
                        log({"reflection": version,
                             "symbol": q.file_containing_symbol})
                        fd = pool.FindFileContainingSymbol(
                            q.file_containing_symbol)
                    elif which == "file_by_filename":
                        log({"reflection": version,
                             "file": q.file_by_filename})
                        fd = pool.FindFileByName(q.file_by_filename)
                    else:
                        raise KeyError(which)
                    resp.file_descriptor_response.file_descriptor_proto.extend(
                        f.serialized_pb for f in closure(fd))
                except KeyError:
                    resp.error_response.error_code = \
                        grpc.StatusCode.NOT_FOUND.value[0]
                    resp.error_response.error_message = "not found"
                yield resp
        return grpc.method_handlers_generic_handler(
            f"grpc.reflection.{version}.ServerReflection",
            {"ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                info,
                request_deserializer=R.ServerReflectionRequest.FromString,
                response_serializer=R.ServerReflectionResponse.SerializeToString)})

    if args.reflection == "v1":
        import reflection_v1_pb2
        handlers.append(reflection("v1", reflection_v1_pb2))
    elif args.reflection == "v1alpha":
        import reflection_v1alpha_pb2
        handlers.append(reflection("v1alpha", reflection_v1alpha_pb2))

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16),
                         handlers=handlers)
    addr = f"127.0.0.1:{args.port}"
    if args.tls:
        with open(args.tls[0], "rb") as c, open(args.tls[1], "rb") as k:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port(addr, creds)
    else:
        port = server.add_insecure_port(addr)
    if not port:
        sys.exit(f"ticker_server.py: cannot bind {addr}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    print(f"port {port}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop(grace=1).wait()


if __name__ == "__main__":
    main()
