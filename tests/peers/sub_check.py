#!/usr/bin/python3
"""Reads subscribe's output with Google's protobuf runtime (not evpipe's
code) for tests/subscribe.bats.

  sub_check.py PYOUT ids FILE       each event's id, one per line
  sub_check.py PYOUT engflow FILE   check every event against the fake
                                    queue's notification of that id;
                                    prints the ids
  sub_check.py PYOUT axway FILE     check the Axway mapping; prints the
                                    sequence ids
  sub_check.py PYOUT attr NAME FILE each event's attribute NAME
  sub_check.py PYOUT echo FILE      generic mode over the Echo service:
                                    "TYPE DATA TYPE_URL TEXT INDEX" lines
  sub_check.py PYOUT stage FIFO RETURNED
        the last stage of a pipeline: reads records on stdin, and for
        each appends its evpipeack value to RETURNED (flushed) and then
        writes it to FIFO, as forward --acked-to would

Exit 1 with a message on the first mismatch.
"""
import os
import sys

sys.path.insert(0, sys.argv[1])
from google.protobuf.internal import decoder  # noqa

import cloudevent_pb2  # noqa

PREFIX = "type.googleapis.com/"


def records(f):
    data = f.read()
    pos = 0
    while pos < len(data):
        n, pos = decoder._DecodeVarint(data, pos)
        if pos + n > len(data):
            sys.exit("truncated record at the end")
        ev = cloudevent_pb2.CloudEvent()
        ev.ParseFromString(data[pos:pos + n])
        pos += n
        yield ev


def attr(ev, name):
    if name not in ev.attributes:
        return None
    v = ev.attributes[name]
    return getattr(v, v.WhichOneof("attr"))


def fail(ev, msg):
    sys.exit("event %s: %s" % (ev.id, msg))


def engflow(path):
    from engflow_fixture import (KINDS, build_id, invocation_id,
                                 notification)
    for ev in records(open(path, "rb")):
        i = int(ev.id.rsplit("-", 1)[1])
        n = notification(i)
        if ev.spec_version != "1.0":
            fail(ev, "spec_version")
        if not ev.source.endswith("/eventstore/lifecycle-events"):
            fail(ev, "source %s" % ev.source)
        want = ("engflow.eventstore.v1.BuildLifecycleEventNotification."
                + KINDS[i % 4])
        if ev.type != want:
            fail(ev, "type %s, want %s" % (ev.type, want))
        t = attr(ev, "time")
        if (t.seconds, t.nanos) != (n.timestamp.seconds, n.timestamp.nanos):
            fail(ev, "time")
        subject = invocation_id(i) if i % 4 in (1, 2) else build_id(i)
        if attr(ev, "subject") != subject:
            fail(ev, "subject %s" % attr(ev, "subject"))
        if attr(ev, "engflowbuildid") != build_id(i):
            fail(ev, "engflowbuildid")
        if attr(ev, "engflowinstance") != "default":
            fail(ev, "engflowinstance")
        if ev.WhichOneof("data") != "proto_data":
            fail(ev, "no proto_data")
        if ev.proto_data.type_url != PREFIX + \
                "engflow.notification.v1.Notification":
            fail(ev, "type_url %s" % ev.proto_data.type_url)
        if ev.proto_data.value != n.SerializeToString():
            fail(ev, "proto_data is not the notification's bytes")
        print(ev.id)


def axway(path):
    sys.path.insert(0, sys.argv[1])
    import watch_pb2
    names = ["CREATED", "UPDATED", "DELETED", "SUBRESOURCEUPDATED"]
    for ev in records(open(path, "rb")):
        e = watch_pb2.Event()
        if ev.proto_data.type_url != PREFIX + "central.events.v1.Event":
            fail(ev, "type_url %s" % ev.proto_data.type_url)
        e.ParseFromString(ev.proto_data.value)
        seq = e.metadata.sequenceID
        if ev.id != e.id or ev.id != "ev-%d" % seq:
            fail(ev, "id")
        if ev.type != "central.events.v1.Event." + names[seq % 4]:
            fail(ev, "type %s" % ev.type)
        if attr(ev, "sequence") != str(seq):
            fail(ev, "sequence")
        if attr(ev, "subject") != e.payload.metadata.selfLink or \
                not attr(ev, "subject").endswith("/api-%d" % seq):
            fail(ev, "subject")
        if attr(ev, "axwaykind") != "APIService":
            fail(ev, "axwaykind")
        t = attr(ev, "time")
        # "2021-11-30 11:MM:SS.ff", UTC
        want = 1638270000 + seq // 60 % 60 * 60 + seq % 60
        if t.seconds != want or t.nanos != seq % 100 * 10000000:
            fail(ev, "time %s.%09d" % (t.seconds, t.nanos))
        if not ev.source.endswith(e.metadata.watchTopicSelfLink):
            fail(ev, "source %s" % ev.source)
        if e.payload.attributes["k%d" % seq] != "v" or \
                e.payload.metadata.references[0].selfLink != "/x/s":
            fail(ev, "payload")
        print(seq)


def stage(fifo, returned):
    # as forward --acked-to does (evpipe.7): a missing FIFO is made, so
    # that starting before the reader does not leave a regular file
    try:
        os.mkfifo(fifo, 0o600)
    except FileExistsError:
        pass
    out = open(fifo, "w")
    ret = open(returned, "a")
    data = sys.stdin.buffer
    buf = b""
    while True:
        chunk = data.read1(65536)
        if not chunk:
            break
        buf += chunk
        pos = 0
        while True:
            try:
                n, q = decoder._DecodeVarint(buf, pos)
            except IndexError:
                break
            if q + n > len(buf):
                break
            ev = cloudevent_pb2.CloudEvent()
            ev.ParseFromString(buf[q:q + n])
            pos = q + n
            ack = attr(ev, "evpipeack")
            if ack is None:
                sys.exit("event %s without evpipeack" % ev.id)
            ret.write(ack + "\n")
            ret.flush()
            out.write(ack + "\n")
            out.flush()
        buf = buf[pos:]


cmd = sys.argv[2]
if cmd == "ids":
    for ev in records(open(sys.argv[3], "rb")):
        print(ev.id)
elif cmd == "engflow":
    engflow(sys.argv[3])
elif cmd == "axway":
    axway(sys.argv[3])
elif cmd == "echo":
    import echo_pb2
    for ev in records(open(sys.argv[3], "rb")):
        kind = ev.WhichOneof("data")
        raw = ev.proto_data.value if kind == "proto_data" else ev.binary_data
        r = echo_pb2.EchoReply.FromString(raw)
        print(ev.type, kind, ev.proto_data.type_url or "-", r.text, r.index)
elif cmd == "attr":
    for ev in records(open(sys.argv[4], "rb")):
        print(attr(ev, sys.argv[3]))
elif cmd == "stage":
    stage(sys.argv[3], sys.argv[4])
else:
    sys.exit("unknown command %s" % cmd)
