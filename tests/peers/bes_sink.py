#!/usr/bin/python3
"""A Build Event Service (google.devtools.build.v1.PublishBuildEvent) as
a test sink for forward --protocol bes, with the checks a real BES makes
and the faults the tests need.

  bes_sink.py [--port N | --unix PATH] [--log FILE] [--drop-every N]
              [--ack-out-of-order] [--delay-ms MS] [--hang]
              [--hold INVOCATION=FILE]... [--jitter-ms MS] [--seed N]

PublishBuildToolEventStream: per stream (build_id, invocation_id,
component), sequence numbers must continue where the committed ones end
(a new call may start at any number up to committed + 1: the client
resends what it has no ack for) and go up by one within a call; else
INVALID_ARGUMENT "Non-consecutive sequence number", as in bazel#8160.  An
event above the committed number is committed (logged), one at or below
it is a resend and only acked again (buildbuddy#3998).  Acks are sent in
order as events arrive; the call ends OK when the client half-closes.

PublishLifecycleEvent: the same numbering per stream, then Empty.

--log appends JSON lines: {"commit": [build, inv, comp], "seq", "event"
(SHA-256 of the BuildEvent), "keywords", "project_id", "call"} for each new
tool event, {"resent": ...} for resends, {"lifecycle": kind, "stream",
"seq", "service_level", "keywords", "project_id"} for lifecycle events,
{"half_close": stream, "call"} when a call's request stream ends,
{"metadata": [...], "call"} when a call starts.  A sink restarted with
the same --log goes on from the committed numbers in it.

--drop-every N: after every N-th event received (all calls counted,
committed but not acked) the call fails UNAVAILABLE.
--ack-out-of-order: acks come in pairs, the second event first.
--delay-ms: wait this long before each ack.
--hang: never end a call after the client half-closed (bazel#13689).
--hold INVOCATION=FILE: the acks of that invocation's tool stream wait
until FILE exists (its events are committed as they come); --jitter-ms
MS: a random 0..MS wait before each ack, so streams progress unevenly."""
import hashlib
import json
import os
import threading
import time

import grpc

import sinklib

ap = sinklib.arguments("Build Event Service sink")
ap.add_argument("--drop-every", type=int, default=0)
ap.add_argument("--ack-out-of-order", action="store_true")
ap.add_argument("--delay-ms", type=int, default=0)
ap.add_argument("--hang", action="store_true")
args = ap.parse_args()
sinklib.load_path(args)
from google.devtools.build.v1 import publish_build_event_pb2 as pb  # noqa
from google.protobuf import empty_pb2  # noqa

lock = threading.Lock()
committed = {}  # stream key -> last committed sequence number
counters = {"calls": 0, "events": 0}


def key_of(sid):
    return (sid.build_id, sid.invocation_id, int(sid.component))


# A restarted sink goes on from what it committed before.
if args.log and os.path.exists(args.log):
    with open(args.log, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line cut short by SIGKILL
            k = rec.get("commit") or rec.get("lifecycle_stream")
            if k:
                committed[tuple(k)] = max(committed.get(tuple(k), 0),
                                          rec["seq"])
log = sinklib.Log(args.log)
holds = sinklib.Holds(args)


def check_seq(ctx, key, seq, first, expected):
    """Numbering rules; returns True for a new event, False a resend."""
    have = committed.get(key, 0)
    if (first and not 1 <= seq <= have + 1) or (not first and seq != expected):
        ctx.abort(grpc.StatusCode.INVALID_ARGUMENT,
                  "Non-consecutive sequence number %d for %s (committed %d)"
                  % (seq, "/".join(map(str, key)), have))
    if seq == have + 1:
        committed[key] = seq
        return True
    return False


def stream(requests, ctx):
    with lock:
        counters["calls"] += 1
        call = counters["calls"]
    log.write({"metadata": sinklib.metadata(ctx), "call": call})
    expected, held = None, []
    for req in requests:
        obe = req.ordered_build_event
        key, seq = key_of(obe.stream_id), obe.sequence_number
        with lock:
            new = check_seq(ctx, key, seq, expected is None, expected)
            expected = seq + 1
            rec = {"stream": list(key), "seq": seq, "call": call,
                   "event": hashlib.sha256(
                       obe.event.SerializeToString()).hexdigest(),
                   "keywords": list(req.notification_keywords),
                   "project_id": req.project_id}
            rec["commit" if new else "resent"] = list(key)
            log.write(rec)
            counters["events"] += 1
            drop = args.drop_every and \
                counters["events"] % args.drop_every == 0
        if drop:
            ctx.abort(grpc.StatusCode.UNAVAILABLE,
                      "dropping the stream after %d events"
                      % counters["events"])
        if args.delay_ms:
            time.sleep(args.delay_ms / 1000)
        holds.wait(key[1])
        ack = pb.PublishBuildToolEventStreamResponse(
            stream_id=obe.stream_id, sequence_number=seq)
        if args.ack_out_of_order:
            held.append(ack)
            if len(held) == 2:
                yield held[1]
                yield held[0]
                held = []
            continue
        yield ack
    for ack in held:
        yield ack
    log.write({"half_close": list(key) if expected else None,
               "call": call})
    if args.hang:
        time.sleep(3600)


def lifecycle(req, ctx):
    obe = req.build_event
    key, seq = key_of(obe.stream_id), obe.sequence_number
    with lock:
        check_seq(ctx, key, seq, True, None)
        log.write({"lifecycle": obe.event.WhichOneof("event"),
                   "lifecycle_stream": list(key), "seq": seq,
                   "service_level": int(req.service_level),
                   "keywords": list(req.notification_keywords),
                   "project_id": req.project_id,
                   "metadata": sinklib.metadata(ctx)})
    return empty_pb2.Empty()


handler = grpc.method_handlers_generic_handler(
    "google.devtools.build.v1.PublishBuildEvent",
    {"PublishBuildToolEventStream": grpc.stream_stream_rpc_method_handler(
        stream,
        request_deserializer=pb.PublishBuildToolEventStreamRequest.FromString,
        response_serializer=(
            pb.PublishBuildToolEventStreamResponse.SerializeToString)),
     "PublishLifecycleEvent": grpc.unary_unary_rpc_method_handler(
        lifecycle,
        request_deserializer=pb.PublishLifecycleEventRequest.FromString,
        response_serializer=empty_pb2.Empty.SerializeToString)})
sinklib.serve(args, (handler,))
