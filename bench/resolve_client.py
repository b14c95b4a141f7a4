#!/usr/bin/python3
"""The python3-grpcio baseline for bench/resolve: does resolve's job the
straightforward way a Python client would.  Reads delimited
notification CloudEvents on stdin; for each, GetInvocation of its
subject (the invocation id) streams the events, written to stdout as
delimited CloudEvents (proto_data the BuildProgressEvent, subject and
sequence set, as resolve writes them), each invocation's contiguous and
in the order of the notifications, --parallel calls at once.

  resolve_client.py PYOUT TARGET [--parallel N]

PYOUT: the Python modules tests/peers/eventstore.py compiled there."""
import argparse
import sys
from concurrent import futures

import grpc
from google.protobuf.internal.decoder import _DecodeVarint
from google.protobuf.internal.encoder import _VarintBytes

ap = argparse.ArgumentParser()
ap.add_argument("pyout")
ap.add_argument("target")
ap.add_argument("--parallel", type=int, default=4)
a = ap.parse_args()
sys.path.insert(0, a.pyout)
import cloudevent_pb2 as ce  # noqa: E402
from engflow.eventstore.v1 import eventstore_pb2 as pb  # noqa: E402

channel = grpc.insecure_channel(a.target.replace("grpc://", ""))
get = channel.unary_stream(
    "/engflow.eventstore.v1.EventStore/GetInvocation",
    request_serializer=pb.GetInvocationRequest.SerializeToString,
    response_deserializer=pb.StreamedBuildEvent.FromString)


def resolve(note):
    inv = note.attributes["subject"].ce_string
    out = []
    for i, sbe in enumerate(get(pb.GetInvocationRequest(invocation_id=inv))):
        ev = ce.CloudEvent(id="%s/%d" % (inv, i + 1), source=note.source,
                           spec_version="1.0",
                           type="engflow.eventstore.v1.BuildProgressEvent")
        ev.attributes["subject"].ce_string = inv
        ev.attributes["sequence"].ce_integer = i + 1
        ev.proto_data.Pack(sbe.event)
        b = ev.SerializeToString()
        out.append(_VarintBytes(len(b)) + b)
    return b"".join(out)


data = sys.stdin.buffer.read()
notes, pos = [], 0
while pos < len(data):
    n, pos = _DecodeVarint(data, pos)
    notes.append(ce.CloudEvent.FromString(data[pos:pos + n]))
    pos += n
with futures.ThreadPoolExecutor(a.parallel) as pool:
    for chunk in pool.map(resolve, notes):
        sys.stdout.buffer.write(chunk)
