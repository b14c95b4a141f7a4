#!/usr/bin/python3
"""EngFlow's demo Forwarding server (engflow.md 2.6), as a test sink
for forward --protocol demo (and --protocol unary --method with the same
method): ForwardStream(EngFlowRequest{id, payload}) answers
EngFlowResponse{message: "Processed request with id <id> in the
server."}, as DemoServer.java does.

  demo_sink.py [--port N | --unix PATH] [--log FILE] [--delay-ms MS]
               [--fail-first N] [--fail-every K] [--code NAME]
               [--hold ID=FILE]... [--jitter-ms MS] [--seed N] [--fail-by-id]

--log appends {"received": id} when a request arrives, then {"id",
"payload", "metadata"} once it succeeded (or {"failed": CODE, "id"} when
it was failed on purpose).
--fail-first N fails the first N requests, --fail-every K every K-th,
with --code (default UNAVAILABLE).  --delay-ms sleeps in each call
before answering (a slow sink; --workers bounds the calls at once).
--hold ID=FILE: a request with this id is answered (and logged) only
once FILE exists; --jitter-ms MS: each waits a random 0..MS first, so
calls end in another order than they came.  --fail-by-id: a request
whose id is the name of a gRPC status other than OK fails with it."""
import threading
import time

import grpc

import sinklib

ap = sinklib.arguments("demo Forwarding sink")
ap.add_argument("--delay-ms", type=int, default=0)
ap.add_argument("--fail-first", type=int, default=0)
ap.add_argument("--fail-every", type=int, default=0)
ap.add_argument("--code", default="UNAVAILABLE")
ap.add_argument("--fail-by-id", action="store_true")
args = ap.parse_args()
sinklib.load_path(args)
from com.engflow.notificationqueue.demoserver import server_pb2 as pb  # noqa

log = sinklib.Log(args.log)
holds = sinklib.Holds(args)
fail_code = sinklib.code(args.code)
lock = threading.Lock()
calls = [0]


def forward_stream(req, ctx):
    log.write({"received": req.id})
    if args.fail_by_id and req.id in sinklib.CODES and req.id != "OK":
        log.write({"failed": req.id, "id": req.id})
        ctx.abort(sinklib.CODES[req.id], "failing with %s by its id" % req.id)
    with lock:
        calls[0] += 1
        n = calls[0]
    if n <= args.fail_first or (args.fail_every and n % args.fail_every == 0):
        log.write({"failed": fail_code.name, "id": req.id})
        ctx.abort(fail_code, "failing call %d on purpose" % n)
    if args.delay_ms:
        time.sleep(args.delay_ms / 1000)
    holds.wait(req.id)
    log.write({"id": req.id, "payload": req.payload,
               "metadata": sinklib.metadata(ctx)})
    return pb.EngFlowResponse(
        message="Processed request with id %s in the server." % req.id)


handler = grpc.method_handlers_generic_handler(
    "com.engflow.notificationqueue.demoserver.Forwarding",
    {"ForwardStream": grpc.unary_unary_rpc_method_handler(
        forward_stream,
        request_deserializer=pb.EngFlowRequest.FromString,
        response_serializer=pb.EngFlowResponse.SerializeToString)})
sinklib.serve(args, (handler,))
