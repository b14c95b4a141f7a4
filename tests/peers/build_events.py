#!/usr/bin/python3
"""Delimited CloudEvents holding build events, as resolve writes them
(subject = invocation id, proto_data = engflow.eventstore.v1.
BuildProgressEvent), made with Google's protobuf runtime; and the checks
of what a sink received.

  build_events.py make [--invocations N] [--events M] [--lifecycle]
                       [--interleave] [--ack] [--size BYTES]
                       [--keywords K,...] [--streamed]
      Invocation k (from 0) of build "build-<k // 2>" (two invocations
      per build) has M tool events: bazel_event Anys of BYTES bytes,
      the last one component_stream_finished.  --lifecycle adds
      BuildEnqueued and InvocationAttemptStarted before, and
      InvocationAttemptFinished and BuildFinished after, as the event
      store has them.  --interleave alternates invocations event by
      event.  --ack sets evpipeack "ack-<event id>".  --streamed wraps
      each event in a StreamedBuildEvent.
      --notifications ahead: each invocation's events come after its
      InvocationFinished notification as subscribe(1) writes it (id
      "note-<k>", proto_data an engflow.notification.v1.Notification),
      without evpipeack, and with --ack only the invocation's last event
      has one, the notification's id: resolve --pass-notifications.
      --notifications unresolved: each invocation's events come after
      its InvocationStarted notification and before a redelivered
      InvocationFinished one marked evpipeunresolved DUPLICATE, both
      with evpipeack (their id): what resolve passes on unresolved.

  build_events.py make-mixed
      One event of each kind the demo target renders differently:
      build events (two with one subject), a Timestamp, text, binary, no
      data, an Any of an unknown type, a Timestamp with a field it does
      not know, a Notification holding a BuildLifecycleEventNotification.

  build_events.py offset EVENTS N
      The byte offset of record N + 1 (from 1) in EVENTS: the size of
      its first N records.

  build_events.py check-bes EVENTS LOG
      Every tool event of EVENTS was committed exactly once in LOG (a
      bes_sink.py log), on its stream at the right position (sequence
      numbers 1..N, N+1 being component_stream_finished), with the same
      BuildEvent bytes; notification keywords only on sequence number 1.
      Prints a summary line.

  build_events.py check-demo EVENTS LOG
      Every event of EVENTS reached the demo sink (demo_sink.py log)
      exactly once, with id = its subject (or id) and a payload that
      text_format.Parse reads back to the very message in its
      proto_data (or to the whole CloudEvent when it has none), and that
      is byte for byte what text_format.MessageToString prints for it:
      the message, or the Any itself when text would lose something of
      it; text data as it is.  A notification (proto_data an
      engflow.notification.v1.Notification) is sent as EngFlow's client
      sends it (engflow.md 2.3, 2.6): id = the notification id (the
      event's id), payload = the text format of its payload Any, which
      parses back to that Any."""
import hashlib
import json
import sys

from google.protobuf import text_format
from google.protobuf.internal.decoder import _DecodeVarint
from google.protobuf.internal.encoder import _VarintBytes

import cloudevent_pb2
from engflow.eventstore.v1 import build_event_pb2, eventstore_pb2
from google.devtools.build.v1 import build_events_pb2

BPE_URL = "type.googleapis.com/engflow.eventstore.v1.BuildProgressEvent"
NOTE_URL = "type.googleapis.com/engflow.notification.v1.Notification"
SBE_URL = "type.googleapis.com/engflow.eventstore.v1.StreamedBuildEvent"
TOOL, CONTROLLER = 3, 1


def read_records(path):
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        n, pos = _DecodeVarint(data, pos)
        ev = cloudevent_pb2.CloudEvent()
        ev.ParseFromString(data[pos:pos + n])
        pos += n
        yield ev


def make(argv):
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--invocations", type=int, default=1)
    ap.add_argument("--events", type=int, default=10)
    ap.add_argument("--lifecycle", action="store_true")
    ap.add_argument("--interleave", action="store_true")
    ap.add_argument("--ack", action="store_true")
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--keywords", default="command_name=build")
    ap.add_argument("--streamed", action="store_true")
    ap.add_argument("--notifications", choices=("ahead", "unresolved"))
    a = ap.parse_args(argv)
    keywords = [k for k in a.keywords.split(",") if k]

    def progress(k, j, kind):
        bpe = build_event_pb2.BuildProgressEvent()
        bpe.stream_id.build_id = "build-%d" % (k // 2)
        inv = "inv-%04d" % k
        bpe.stream_id.component = TOOL
        bpe.stream_id.invocation_id = inv
        be = bpe.build_event
        be.event_time.seconds = 1700000000 + j
        if kind == "tool":
            be.bazel_event.type_url = \
                "type.googleapis.com/build_event_stream.BuildEvent"
            body = ("inv %d event %d " % (k, j)).encode()
            be.bazel_event.value = (body * (a.size // len(body) + 1))[:a.size]
        elif kind == "last":
            be.component_stream_finished.type = 1
        else:
            bpe.stream_id.component = CONTROLLER
            bpe.service_level = 1
            if kind in ("enqueued", "build_finished"):
                bpe.stream_id.invocation_id = ""
            if kind == "enqueued":
                be.build_enqueued.SetInParent()
            elif kind == "started":
                be.invocation_attempt_started.attempt_number = 1
            elif kind == "finished":
                be.invocation_attempt_finished.invocation_status.result = 1
            else:
                be.build_finished.status.result = 1
        if kind in ("enqueued", "started") or (kind == "tool" and j == 0):
            bpe.notification_keywords.extend(keywords)
        ev = cloudevent_pb2.CloudEvent(
            id="%s/%d" % (inv, j), source="//evpipe.test/bes",
            spec_version="1.0",
            type="engflow.eventstore.v1.BuildProgressEvent")
        ev.attributes["subject"].ce_string = inv
        if a.ack:
            ev.attributes["evpipeack"].ce_string = "ack-" + ev.id
        if a.streamed:
            sbe = eventstore_pb2.StreamedBuildEvent(
                continuation_token="tok-%d" % j, event=bpe)
            ev.proto_data.type_url = SBE_URL
            ev.proto_data.value = sbe.SerializeToString()
        else:
            ev.proto_data.type_url = BPE_URL
            ev.proto_data.value = bpe.SerializeToString()
        return ev

    per = []
    for k in range(a.invocations):
        kinds = ["tool"] * (a.events - 1) + ["last"]
        if a.lifecycle:
            kinds = (["enqueued"] if k % 2 == 0 else []) + ["started"] + \
                kinds + ["finished"] + (["build_finished"]
                                        if k % 2 == 1 or k == a.invocations - 1
                                        else [])
        evs = [progress(k, j, kind) for j, kind in enumerate(kinds)]
        if a.notifications == "ahead":
            note = notification_event(k, "finished")
            if a.ack:
                for ev in evs:
                    del ev.attributes["evpipeack"]
                evs[-1].attributes["evpipeack"].ce_string = note.id
            evs.insert(0, note)
        elif a.notifications == "unresolved":
            evs.insert(0, notification_event(k, "started", ack=True))
            evs.append(notification_event(k, "finished", ack=True,
                                          unresolved="DUPLICATE"))
        per.append(evs)
    order = []
    if a.interleave:
        for j in range(max(len(p) for p in per)):
            order += [p[j] for p in per if j < len(p)]
    else:
        for p in per:
            order += p
    out = sys.stdout.buffer
    for ev in order:
        b = ev.SerializeToString()
        out.write(_VarintBytes(len(b)) + b)


def notification_event(k, kind, ack=False, unresolved=None):
    """Invocation k's notification as subscribe(1) writes it (THE
    EVENTS): the Notification in proto_data, id its id, type the
    payload's kind, subject the invocation id."""
    from engflow.notification.v1 import notification_pb2
    from engflow.eventstore.v1 import notifications_pb2
    blen = notifications_pb2.BuildLifecycleEventNotification(
        instance_name="default", build_id="build-%d" % (k // 2),
        keywords=["command_name=build"])
    inv = "inv-%04d" % k
    if kind == "started":
        blen.invocation_started.invocation_id = inv
        name = "InvocationStarted"
    else:
        blen.invocation_finished.invocation_id = inv
        name = "InvocationFinished"
    note = notification_pb2.Notification(id="note-%d-%s" % (k, kind))
    note.timestamp.seconds = 1700000000 + k
    note.payload.Pack(blen)
    ev = cloudevent_pb2.CloudEvent(
        id=note.id, source="grpc://queue.test/eventstore/lifecycle-events",
        spec_version="1.0",
        type="engflow.eventstore.v1.BuildLifecycleEventNotification." + name)
    ev.attributes["time"].ce_timestamp.seconds = note.timestamp.seconds
    ev.attributes["subject"].ce_string = inv
    ev.attributes["engflowbuildid"].ce_string = blen.build_id
    ev.attributes["engflowinstance"].ce_string = "default"
    if ack:
        ev.attributes["evpipeack"].ce_string = note.id
    if unresolved:
        ev.attributes["evpipeunresolved"].ce_string = unresolved
    ev.proto_data.Pack(note)
    return ev


def make_mixed():
    from google.protobuf import timestamp_pb2
    from engflow.notification.v1 import notification_pb2
    from engflow.eventstore.v1 import notifications_pb2
    evs = []

    def new(i, **attrs):
        ev = cloudevent_pb2.CloudEvent(id=i, source="/mixed",
                                       spec_version="1.0", type="t")
        for k, v in attrs.items():
            ev.attributes[k].ce_string = v
        evs.append(ev)
        return ev

    for j, kw in enumerate(["plain", "quote\"back\\slash\ttab \u00e9\u4e2d"]):
        bpe = build_event_pb2.BuildProgressEvent()
        bpe.stream_id.build_id = "b"
        bpe.stream_id.invocation_id = "inv-1"
        bpe.stream_id.component = TOOL
        bpe.notification_keywords.append(kw)
        bpe.build_event.event_time.seconds = 1700000000 + j
        bpe.build_event.bazel_event.type_url = \
            "type.googleapis.com/build_event_stream.BuildEvent"
        bpe.build_event.bazel_event.value = bytes(range(j, 256, 7))
        new("bpe-%d" % j, subject="inv-1").proto_data.Pack(bpe)
    new("ts").proto_data.Pack(timestamp_pb2.Timestamp(seconds=-1, nanos=5))
    new("text").text_data = "hello\nw\u00f6rld \"q\""
    new("bin").binary_data = bytes([0, 1, 2, 255])
    new("none")
    ev = new("unknown-type")
    ev.proto_data.type_url = "example.com/no.such.Type"
    ev.proto_data.value = b"\x08\x01"
    ev = new("unknown-field")
    ev.proto_data.type_url = "type.googleapis.com/google.protobuf.Timestamp"
    ev.proto_data.value = b"\x08\x01\x18\x05"
    blen = notifications_pb2.BuildLifecycleEventNotification(
        instance_name="default", build_id="b",
        keywords=["command_name=test"])
    blen.invocation_finished.invocation_id = "inv-1"
    note = notification_pb2.Notification(id="n-1")
    note.timestamp.seconds = 1700000000
    note.payload.Pack(blen)
    new("notification").proto_data.Pack(note)
    out = sys.stdout.buffer
    for ev in evs:
        b = ev.SerializeToString()
        out.write(_VarintBytes(len(b)) + b)


def import_all():
    """Every proto/ module, so the default pool knows every type."""
    import importlib
    import os
    top = os.path.dirname(cloudevent_pb2.__file__)
    for d, _, files in os.walk(top):
        for f in files:
            if f.endswith("_pb2.py"):
                rel = os.path.relpath(os.path.join(d, f), top)[:-3]
                importlib.import_module(rel.replace(os.sep, "."))


def expected_payload(ev):
    from google.protobuf import descriptor_pool, symbol_database
    kind = ev.WhichOneof("data")
    if kind == "text_data":
        return ev.text_data
    if kind != "proto_data":
        return text_format.MessageToString(ev)
    name = ev.proto_data.type_url.split("/")[-1]
    try:
        desc = descriptor_pool.Default().FindMessageTypeByName(name)
    except KeyError:
        desc = None
    if desc is not None:
        cls = symbol_database.Default().GetPrototype(desc)
        m = cls()
        m.ParseFromString(ev.proto_data.value)
        text = text_format.MessageToString(m)
        back = cls()
        text_format.Parse(text, back)
        if back.SerializeToString() == ev.proto_data.value:
            return text
    return text_format.MessageToString(
        ev.proto_data, descriptor_pool=descriptor_pool.DescriptorPool())


def unpack_bpe(ev):
    if ev.proto_data.type_url == SBE_URL:
        sbe = eventstore_pb2.StreamedBuildEvent()
        sbe.ParseFromString(ev.proto_data.value)
        return sbe.event
    bpe = build_event_pb2.BuildProgressEvent()
    bpe.ParseFromString(ev.proto_data.value)
    return bpe


LIFECYCLE = ("invocation_attempt_started", "invocation_attempt_finished",
             "build_enqueued", "build_finished")


def check_bes(events, logpath):
    want = {}  # tool stream -> [(BuildEvent bytes, keywords)], input order
    index = {}  # (stream, seq) -> (build, position in the build's input)
    builds, lifecycle, numbers = {}, [], {}
    for ev in read_records(events):
        bpe = unpack_bpe(ev)
        key = (bpe.stream_id.build_id, bpe.stream_id.invocation_id,
               int(bpe.stream_id.component))
        build = key[0]
        seq = numbers[key] = numbers.get(key, 0) + 1
        index[(key, seq)] = (build, builds.get(build, 0))
        builds[build] = builds.get(build, 0) + 1
        if bpe.build_event.WhichOneof("event") in LIFECYCLE:
            lifecycle.append((key, seq))
            continue
        want.setdefault(key, []).append(
            (bpe.build_event.SerializeToString(),
             list(bpe.notification_keywords)))
    got, resent, errors = {}, 0, []
    where = {}  # (stream, seq) -> line number of its commit
    with open(logpath, encoding="utf-8") as f:
        for n, line in enumerate(f):
            rec = json.loads(line)
            if "resent" in rec:
                resent += 1
            if "lifecycle" in rec:
                k = (tuple(rec["lifecycle_stream"]), rec["seq"])
                if k in where:
                    errors.append("lifecycle %s twice" % (k,))
                where[k] = n
            if "commit" not in rec:
                continue
            key = tuple(rec["commit"])
            got.setdefault(key, []).append(rec)
            where[(key, rec["seq"])] = n
    for key, evs in want.items():
        recs = got.get(key, [])
        if [r["seq"] for r in recs] != list(range(1, len(evs) + 1)):
            errors.append("%s: sequence numbers %s" %
                          (key, [r["seq"] for r in recs][:20]))
            continue
        for (body, kw), r in zip(evs, recs):
            if r["event"] != hashlib.sha256(body).hexdigest():
                errors.append("%s seq %d: another event" % (key, r["seq"]))
            if r["keywords"] != (kw if r["seq"] == 1 else []):
                errors.append("%s seq %d: keywords %s" %
                              (key, r["seq"], r["keywords"]))
    for key in got:
        if key not in want:
            errors.append("%s: not in the input" % (key,))
    published = any(k in where for k in lifecycle)
    # A lifecycle event was published after every earlier event of its
    # build was committed, and before any later one.
    for life in lifecycle:
        if life not in where:
            if published:
                errors.append("lifecycle %s not published" % (life,))
            continue
        build, pos = index[life]
        for k, (b, p) in index.items():
            if b != build or k not in where:
                continue
            if (p < pos) != (where[k] < where[life]):
                errors.append("lifecycle %s out of order with %s" %
                              (life, k))
                break
    for e in errors[:10]:
        print(e)
    print("%d streams, %d events committed, %d resent, %d lifecycle, "
          "%d errors" % (len(got), sum(len(v) for v in got.values()),
                         resent, sum(1 for k in lifecycle if k in where),
                         len(errors)))
    return 1 if errors else 0


def check_notification(ev, got, errors):
    from google.protobuf import any_pb2
    from engflow.notification.v1 import notification_pb2
    note = notification_pb2.Notification()
    note.ParseFromString(ev.proto_data.value)
    text = text_format.MessageToString(note.payload)
    payloads = got.get(ev.id, [])
    if text not in payloads:
        errors.append("%s: notification: no payload is the text of its "
                      "payload Any: %r" % (ev.id, text[:300]))
        return
    payloads.remove(text)
    back = any_pb2.Any()
    text_format.Parse(text, back)
    if back.SerializeToString() != note.payload.SerializeToString():
        errors.append("%s: the notification's payload does not parse back"
                      % ev.id)


def check_demo(events, logpath):
    from google.protobuf import any_pb2, descriptor_pool, symbol_database
    import_all()
    got = {}
    with open(logpath, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if "payload" in rec:
                got.setdefault(rec["id"], []).append(rec["payload"])
    errors, n = [], 0
    for ev in read_records(events):
        n += 1
        if ev.WhichOneof("data") == "proto_data" and \
                ev.proto_data.type_url == NOTE_URL:
            check_notification(ev, got, errors)
            continue
        rid = ev.attributes["subject"].ce_string \
            if "subject" in ev.attributes else ev.id
        payloads = got.get(rid, [])
        text = expected_payload(ev)
        if text not in payloads:
            errors.append("%s: no payload is what Python prints: %r" %
                          (ev.id, text[:300]))
            continue
        payloads.remove(text)
        # And it reads back to the same message.
        kind = ev.WhichOneof("data")
        if kind == "text_data":
            continue
        if kind != "proto_data":
            msg, want = cloudevent_pb2.CloudEvent(), ev.SerializeToString()
        elif text.startswith("type_url: "):
            msg, want = any_pb2.Any(), ev.proto_data.SerializeToString()
        else:
            name = ev.proto_data.type_url.split("/")[-1]
            desc = descriptor_pool.Default().FindMessageTypeByName(name)
            msg = symbol_database.Default().GetPrototype(desc)()
            want = ev.proto_data.value
        text_format.Parse(text, msg)
        if msg.SerializeToString() != want:
            errors.append("%s: the payload does not parse back" % ev.id)
    extra = sum(len(v) for v in got.values())
    if extra:
        errors.append("%d requests more than events" % extra)
    for e in errors[:10]:
        print(e)
    print("%d events, %d errors" % (n, len(errors)))
    return 1 if errors else 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "make":
        return make(sys.argv[2:])
    if len(sys.argv) == 2 and sys.argv[1] == "make-mixed":
        return make_mixed()
    if len(sys.argv) == 4 and sys.argv[1] == "check-bes":
        return check_bes(sys.argv[2], sys.argv[3])
    if len(sys.argv) == 4 and sys.argv[1] == "offset":
        data, pos = open(sys.argv[2], "rb").read(), 0
        for _ in range(int(sys.argv[3])):
            n, pos = _DecodeVarint(data, pos)
            pos += n
        print(pos)
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "check-demo":
        return check_demo(sys.argv[2], sys.argv[3])
    sys.exit(__doc__)


sys.exit(main())
