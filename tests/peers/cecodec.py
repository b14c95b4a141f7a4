"""An independent CloudEvents codec for the tests: Google's protobuf
runtime and its proto3 JSON mapping, not evpipe's code.

  cecodec.py encode  proto3-JSON lines on stdin -> delimited records
  cecodec.py decode  delimited records on stdin -> proto3-JSON lines

The generated cloudevent_pb2 module must be on PYTHONPATH (see
tests/helpers.bash)."""
import sys

from google.protobuf import json_format
from google.protobuf.internal import decoder, encoder

import cloudevent_pb2


def encode():
    out = sys.stdout.buffer
    for line in sys.stdin:
        if not line.strip():
            continue
        ev = json_format.Parse(line, cloudevent_pb2.CloudEvent())
        body = ev.SerializeToString(deterministic=True)
        out.write(encoder._VarintBytes(len(body)) + body)


def decode():
    data = sys.stdin.buffer.read()
    pos = 0
    while pos < len(data):
        n, pos = decoder._DecodeVarint(data, pos)
        ev = cloudevent_pb2.CloudEvent()
        ev.ParseFromString(data[pos:pos + n])
        pos += n
        print(json_format.MessageToJson(ev, indent=None, sort_keys=True))


{"encode": encode, "decode": decode}[sys.argv[1]]()
