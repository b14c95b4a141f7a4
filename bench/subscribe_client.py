#!/usr/bin/python3
"""The python3-grpcio counterpart of subscribe for bench/subscribe:
pull N notifications from the queue at TARGET, write each as a
delimited CloudEvent (the notification in proto_data) to stdout, and
acknowledge it on the same stream once written, in batches, as
subscribe does.

  subscribe_client.py PYOUT TARGET N"""
import queue
import sys
import threading

sys.path.insert(0, sys.argv[1])
import grpc  # noqa
from google.protobuf.internal.encoder import _VarintBytes  # noqa

import cloudevent_pb2  # noqa
from engflow.notification.v1 import notification_queue_pb2 as nq  # noqa

target, total = sys.argv[2], int(sys.argv[3])
PREFIX = "type.googleapis.com/"
acks = queue.Queue()


def requests():
    first = nq.PullNotificationRequest()
    first.queue.name = "eventstore/lifecycle-events"
    yield first
    while True:
        tokens = acks.get()
        if tokens is None:
            return
        yield nq.PullNotificationRequest(acknowledgement_tokens=tokens)


def main():
    ch = grpc.insecure_channel(target)
    pull = ch.stream_stream(
        "/engflow.notification.v1.NotificationQueue/Pull",
        request_serializer=nq.PullNotificationRequest.SerializeToString,
        response_deserializer=nq.PullNotificationResponse.FromString)
    out = sys.stdout.buffer
    got, batch = 0, []
    call = pull(requests())
    for r in call:
        if not r.HasField("notification"):
            continue
        n = r.notification.notification
        ev = cloudevent_pb2.CloudEvent(
            id=n.id, source=target + "/eventstore/lifecycle-events",
            spec_version="1.0", type=n.payload.type_url.rsplit("/", 1)[1])
        ev.attributes["time"].ce_timestamp.CopyFrom(n.timestamp)
        ev.proto_data.type_url = PREFIX + "engflow.notification.v1." \
                                          "Notification"
        ev.proto_data.value = n.SerializeToString()
        body = ev.SerializeToString()
        out.write(_VarintBytes(len(body)) + body)
        batch.append(r.notification.token)
        got += 1
        if len(batch) >= 256 or got == total:
            out.flush()
            acks.put(batch)
            batch = []
        if got == total:
            break
    acks.put(None)
    call.cancel()
    ch.close()


threading.Thread(target=main).start()
