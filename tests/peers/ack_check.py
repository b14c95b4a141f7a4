#!/usr/bin/python3
"""The acknowledgement rule of evpipe(7), checked from the outside: an
event's evpipeack is written only when it *and every event read before
it* are handled (a low-water mark over input order).

  ack_check.py make N
      N delimited CloudEvents e1..eN with text data and evpipeack
      a1..aN, no subject (so the demo sink's id is the event's id).

  ack_check.py check EVENTS ACKS LOG demo|bes|store [--all] [--lifecycle]
      ACKS (one per line, as forward --acked-to writes them) must be
      the evpipeacks of a prefix of EVENTS, in input order, each once;
      and every event up to the last acknowledged one must be in the
      sink's own LOG: demo_sink.py's {"id", "payload"} (the id is the
      event's subject or id, a notification's id), store_sink.py's
      {"stored"} or {"duplicate"}, bes_sink.py's {"commit", "seq"} on
      the event's stream at its position (lifecycle events only with
      --lifecycle: without it forward passes them over).  Events the
      protocol has nothing to deliver for (not a build event, for bes)
      need no record.  --all: every event was acknowledged.  Prints a
      summary line; exit 1 on a violation.

Uses Google's protobuf runtime and the generated modules on PYTHONPATH
(tests/peers/gen-forward), never evpipe's code."""
import json
import sys

from google.protobuf.internal.decoder import _DecodeVarint
from google.protobuf.internal.encoder import _VarintBytes

import cloudevent_pb2

NOTE_URL = "type.googleapis.com/engflow.notification.v1.Notification"
BUILD_URLS = {
    "type.googleapis.com/engflow.eventstore.v1.BuildProgressEvent",
    "type.googleapis.com/engflow.eventstore.v1.StreamedBuildEvent",
}
LIFECYCLE = ("invocation_attempt_started", "invocation_attempt_finished",
             "build_enqueued", "build_finished")


def records(path):
    data = open(path, "rb").read()
    pos = 0
    while pos < len(data):
        n, pos = _DecodeVarint(data, pos)
        ev = cloudevent_pb2.CloudEvent()
        ev.ParseFromString(data[pos:pos + n])
        pos += n
        yield ev


def attr(ev, name):
    return ev.attributes[name].ce_string if name in ev.attributes else None


def make(n):
    out = sys.stdout.buffer
    for i in range(1, n + 1):
        ev = cloudevent_pb2.CloudEvent(id="e%d" % i, source="/ack",
                                       spec_version="1.0", type="t",
                                       text_data="event %d" % i)
        ev.attributes["evpipeack"].ce_string = "a%d" % i
        b = ev.SerializeToString()
        out.write(_VarintBytes(len(b)) + b)


def sink_demo(log):
    got = {}
    for rec in log:
        if "payload" in rec:
            got[rec["id"]] = got.get(rec["id"], 0) + 1

    def need(ev):
        if ev.WhichOneof("data") == "proto_data" and \
                ev.proto_data.type_url == NOTE_URL:
            return ev.id
        return attr(ev, "subject") or ev.id
    return got, need


def sink_store(log):
    got = {}
    for rec in log:
        i = rec.get("stored") or rec.get("duplicate")
        if i:
            got[i] = 1
    return got, lambda ev: ev.id


def sink_bes(log, lifecycle):
    from engflow.eventstore.v1 import build_event_pb2, eventstore_pb2
    got, numbers = {}, {}
    for rec in log:
        k = rec.get("commit") or rec.get("lifecycle_stream")
        if k:
            got[(tuple(k), rec["seq"])] = 1

    def need(ev):
        if ev.WhichOneof("data") != "proto_data" or \
                ev.proto_data.type_url not in BUILD_URLS:
            return None  # nothing to deliver: passed over
        if ev.proto_data.type_url.endswith("StreamedBuildEvent"):
            sbe = eventstore_pb2.StreamedBuildEvent()
            sbe.ParseFromString(ev.proto_data.value)
            bpe = sbe.event
        else:
            bpe = build_event_pb2.BuildProgressEvent()
            bpe.ParseFromString(ev.proto_data.value)
        sid = bpe.stream_id
        key = (sid.build_id, sid.invocation_id, int(sid.component))
        numbers[key] = numbers.get(key, 0) + 1
        if bpe.build_event.WhichOneof("event") in LIFECYCLE and \
                not lifecycle:
            return None
        return (key, numbers[key])
    return got, need


def check(argv):
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("events")
    ap.add_argument("acks")
    ap.add_argument("log")
    ap.add_argument("kind", choices=("demo", "bes", "store"))
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--lifecycle", action="store_true")
    a = ap.parse_args(argv)
    log = []
    with open(a.log, encoding="utf-8") as f:
        for line in f:
            try:
                log.append(json.loads(line))
            except ValueError:
                pass  # a line cut short by SIGKILL
    if a.kind == "demo":
        got, need = sink_demo(log)
    elif a.kind == "store":
        got, need = sink_store(log)
    else:
        got, need = sink_bes(log, a.lifecycle)
    evs = list(records(a.events))
    want = [(i, attr(ev, "evpipeack")) for i, ev in enumerate(evs)
            if attr(ev, "evpipeack") is not None]
    acked = [l.rstrip("\n") for l in open(a.acks, encoding="utf-8")]
    errors = []
    if acked != [w for _, w in want[:len(acked)]]:
        for j, v in enumerate(acked):
            if j >= len(want) or v != want[j][1]:
                errors.append("ack %d is %r, not %r: out of input order"
                              % (j + 1, v, want[j][1] if j < len(want)
                                 else None))
                break
    last = want[len(acked) - 1][0] if acked and not errors else -1
    for i in range(last + 1):
        k = need(evs[i])
        if k is None:
            continue
        if got.get(k, 0) <= 0:
            errors.append("record %d (%s) acknowledged before the sink "
                          "had it" % (i + 1, evs[i].id))
            if len(errors) > 5:
                break
            continue
        got[k] -= 1
    if a.all and len(acked) != len(want):
        errors.append("%d of %d events acknowledged" %
                      (len(acked), len(want)))
    for e in errors:
        print(e)
    print("%d of %d acks, %d errors" % (len(acked), len(want), len(errors)))
    return 1 if errors else 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        return make(int(sys.argv[2]))
    if len(sys.argv) >= 2 and sys.argv[1] == "check":
        return check(sys.argv[2:])
    sys.exit(__doc__)


sys.exit(main())
