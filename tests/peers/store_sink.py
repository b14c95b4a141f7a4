#!/usr/bin/python3
"""awakari's messages service (awakari.md 1.3), PutBatch only, as a test
sink for forward --protocol store: ackCount is the number of events
accepted from the start of the batch; an id already stored counts as
accepted and is not overwritten.

  store_sink.py [--port N | --unix PATH] [--log FILE] [--accept-max K]
                [--busy-every N] [--fail-every N] [--delay-ms MS]
                [--hold ID=FILE]... [--jitter-ms MS] [--seed N]

--accept-max K accepts at most K events of each batch (the client must
send the rest again).  --busy-every N: every N-th call accepts none (OK,
ackCount 0).  --fail-every N: every N-th call stores its prefix, then
fails UNAVAILABLE (the reply is lost: the client resends, duplicates
follow).  --log appends {"stored": id, "call", "size"} per new event,
{"duplicate": id} per event stored before, {"batch": n, "acked": k,
"call"} per call.  --hold ID=FILE: a batch holding the event ID is
stored and answered only once FILE exists; --jitter-ms MS: each call
waits a random 0..MS first (calls end in another order)."""
import threading
import time

import grpc

import sinklib

ap = sinklib.arguments("awakari messages PutBatch sink")
ap.add_argument("--accept-max", type=int, default=0)
ap.add_argument("--busy-every", type=int, default=0)
ap.add_argument("--fail-every", type=int, default=0)
ap.add_argument("--delay-ms", type=int, default=0)
args = ap.parse_args()
sinklib.load_path(args)
from api.grpc.messages import service_pb2 as pb  # noqa

log = sinklib.Log(args.log)
holds = sinklib.Holds(args)
lock = threading.Lock()
stored = {}
calls = [0]


def put_batch(req, ctx):
    holds.jitter()
    for ev in req.msgs:
        holds.hold(ev.id)
    with lock:
        calls[0] += 1
        call = calls[0]
        busy = args.busy_every and call % args.busy_every == 0
        fail = args.fail_every and call % args.fail_every == 0
        n = 0 if busy else len(req.msgs)
        if args.accept_max:
            n = min(n, args.accept_max)
        for ev in req.msgs[:n]:
            if ev.id in stored:
                log.write({"duplicate": ev.id, "call": call})
            else:
                stored[ev.id] = ev.SerializeToString()
                log.write({"stored": ev.id, "call": call,
                           "size": len(stored[ev.id])})
        log.write({"batch": len(req.msgs), "acked": n, "call": call,
                   "metadata": sinklib.metadata(ctx)})
    if args.delay_ms:
        time.sleep(args.delay_ms / 1000)
    if fail:
        ctx.abort(grpc.StatusCode.UNAVAILABLE, "reply lost on purpose")
    return pb.PutBatchResponse(ackCount=n)


handler = grpc.method_handlers_generic_handler(
    "awakari.messages.Service",
    {"PutBatch": grpc.unary_unary_rpc_method_handler(
        put_batch,
        request_deserializer=pb.PutBatchRequest.FromString,
        response_serializer=pb.PutBatchResponse.SerializeToString)})
sinklib.serve(args, (handler,))
