#!/usr/bin/python3
"""The python3-grpcio baseline for bench/forward: delivers the same
delimited CloudEvents as forward does, the straightforward way a Python
client would, and prints how many were acknowledged.

  forward_client.py demo|bes|store TARGET EVENTS [--window N] [--batch N]

demo: one ForwardStream call per event, payload = text_format of the
proto_data message, up to --window calls at once (futures).
bes: one PublishBuildToolEventStream per stream, numbered from 1, all
streams at once (a thread each), every ack awaited.
store: PutBatch of --batch events, one call at a time, the tail after
ackCount sent again."""
import argparse
import sys
import threading

import grpc
from google.protobuf import text_format
from google.protobuf.internal.decoder import _DecodeVarint

import cloudevent_pb2
from api.grpc.messages import service_pb2 as store_pb
from com.engflow.notificationqueue.demoserver import server_pb2 as demo_pb
from engflow.eventstore.v1 import build_event_pb2
from google.devtools.build.v1 import publish_build_event_pb2 as bes_pb

ap = argparse.ArgumentParser()
ap.add_argument("protocol", choices=("demo", "bes", "store"))
ap.add_argument("target")
ap.add_argument("events")
ap.add_argument("--window", type=int, default=100)
ap.add_argument("--batch", type=int, default=100)
a = ap.parse_args()

records = []
with open(a.events, "rb") as f:
    data = f.read()
pos = 0
while pos < len(data):
    n, pos = _DecodeVarint(data, pos)
    records.append(data[pos:pos + n])
    pos += n

channel = grpc.insecure_channel(a.target.replace("grpc://", ""))
acked = 0

if a.protocol == "demo":
    call = channel.unary_unary(
        "/com.engflow.notificationqueue.demoserver.Forwarding/ForwardStream",
        request_serializer=demo_pb.EngFlowRequest.SerializeToString,
        response_deserializer=demo_pb.EngFlowResponse.FromString)
    sem = threading.Semaphore(a.window)
    lock = threading.Lock()
    done = []

    def finished(fut):
        global acked
        fut.result()
        with lock:
            acked += 1
        sem.release()

    for rec in records:
        ev = cloudevent_pb2.CloudEvent.FromString(rec)
        bpe = build_event_pb2.BuildProgressEvent.FromString(
            ev.proto_data.value)
        rid = ev.attributes["subject"].ce_string \
            if "subject" in ev.attributes else ev.id
        sem.acquire()
        fut = call.future(demo_pb.EngFlowRequest(
            id=rid, payload=text_format.MessageToString(bpe)))
        fut.add_done_callback(finished)
        done.append(fut)
    for fut in done:
        fut.result()
elif a.protocol == "bes":
    call = channel.stream_stream(
        "/google.devtools.build.v1.PublishBuildEvent/"
        "PublishBuildToolEventStream",
        request_serializer=bes_pb.PublishBuildToolEventStreamRequest
        .SerializeToString,
        response_deserializer=bes_pb.PublishBuildToolEventStreamResponse
        .FromString)
    streams = {}
    for rec in records:
        ev = cloudevent_pb2.CloudEvent.FromString(rec)
        bpe = build_event_pb2.BuildProgressEvent.FromString(
            ev.proto_data.value)
        key = (bpe.stream_id.build_id, bpe.stream_id.invocation_id,
               bpe.stream_id.component)
        streams.setdefault(key, []).append(bpe)
    counts = []

    def publish(bpes):
        def requests():
            for i, bpe in enumerate(bpes):
                req = bes_pb.PublishBuildToolEventStreamRequest()
                req.ordered_build_event.stream_id.CopyFrom(bpe.stream_id)
                req.ordered_build_event.sequence_number = i + 1
                req.ordered_build_event.event.CopyFrom(bpe.build_event)
                if i == 0:
                    req.notification_keywords.extend(
                        bpe.notification_keywords)
                yield req
        n = 0
        for resp in call(requests()):
            n += 1
            assert resp.sequence_number == n
        counts.append(n)

    threads = [threading.Thread(target=publish, args=(b,))
               for b in streams.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    acked = sum(counts)
else:
    call = channel.unary_unary(
        "/awakari.messages.Service/PutBatch",
        request_serializer=store_pb.PutBatchRequest.SerializeToString,
        response_deserializer=store_pb.PutBatchResponse.FromString)
    evs = [cloudevent_pb2.CloudEvent.FromString(r) for r in records]
    i = 0
    while i < len(evs):
        rep = call(store_pb.PutBatchRequest(msgs=evs[i:i + a.batch]))
        i += rep.ackCount
    acked = i
print(acked)
