"""Google's protobuf runtime as the reference for evcat's decoding: the
proto3 JSON mapping (json_format) and the text format (text_format), not
evpipe's code.

  pbref.py MODULE TYPE json2bin   proto3 JSON lines -> base64 lines
                                  (deterministic serialization)
  pbref.py MODULE TYPE bin2json   base64 lines -> compact JSON lines
  pbref.py MODULE TYPE bin2text   base64 lines -> one-line text format
  pbref.py MODULE TYPE shuffle    base64 lines -> the same messages,
                                  fields in reverse order (still valid)
  pbref.py MODULE TYPE records N  N CloudEvent records of TYPE data on
                                  stdout, from the first JSON line on
                                  stdin (for bench/evcat)
  pbref.py MODULE TYPE decode     records on stdin -> data as JSON lines
  pbref.py MODULE TYPE encode     data JSON lines -> records on stdout

MODULE is the generated _pb2 module (on PYTHONPATH); TYPE a full name."""
import base64
import importlib
import json
import sys

from google.protobuf import json_format, text_format, symbol_database
from google.protobuf.internal import decoder, encoder


def message_class(module, name):
    importlib.import_module(module)
    return symbol_database.Default().GetSymbol(name)


def lines():
    for line in sys.stdin:
        if line.strip():
            yield line


def fields_reversed(data):
    """The fields of a message in reverse order: same message, other bytes."""
    pos, parts = 0, []
    while pos < len(data):
        start = pos
        key, pos = decoder._DecodeVarint(data, pos)
        wt = key & 7
        if wt == 0:
            _, pos = decoder._DecodeVarint(data, pos)
        elif wt == 1:
            pos += 8
        elif wt == 5:
            pos += 4
        elif wt == 2:
            n, pos = decoder._DecodeVarint(data, pos)
            pos += n
        else:
            raise ValueError("group")
        parts.append(data[start:pos])
    return b"".join(reversed(parts))


def main():
    module, name, verb = sys.argv[1:4]
    cls = message_class(module, name)
    out = sys.stdout
    if verb == "json2bin":
        for line in lines():
            m = json_format.Parse(line, cls())
            print(base64.b64encode(m.SerializeToString(deterministic=True)).decode())
    elif verb in ("bin2json", "bin2text", "shuffle"):
        for line in sys.stdin:  # an empty line is an empty message
            data = base64.b64decode(line)
            m = cls()
            m.ParseFromString(data)
            if verb == "bin2json":
                print(json.dumps(json_format.MessageToDict(m), separators=(",", ":"),
                                 sort_keys=True, ensure_ascii=False))
            elif verb == "bin2text":
                print(text_format.MessageToString(m, as_one_line=True))
            else:
                print(base64.b64encode(fields_reversed(data)).decode())
    elif verb == "records":
        import cloudevent_pb2
        n = int(sys.argv[4])
        m = json_format.Parse(sys.stdin.readline(), cls())
        body = m.SerializeToString(deterministic=True)
        w = sys.stdout.buffer
        for i in range(1, n + 1):
            ev = cloudevent_pb2.CloudEvent(id=str(i), source="/bench",
                                           spec_version="1.0", type="bench.proto")
            ev.proto_data.type_url = "type.googleapis.com/" + name
            ev.proto_data.value = body
            b = ev.SerializeToString()
            w.write(encoder._VarintBytes(len(b)) + b)
    elif verb == "decode":
        import cloudevent_pb2
        data = sys.stdin.buffer.read()
        pos = 0
        while pos < len(data):
            n, pos = decoder._DecodeVarint(data, pos)
            ev = cloudevent_pb2.CloudEvent()
            ev.ParseFromString(data[pos:pos + n])
            pos += n
            m = cls()
            ev.proto_data.Unpack(m)
            out.write(json_format.MessageToJson(m, indent=None) + "\n")
    elif verb == "encode":
        import cloudevent_pb2
        w = sys.stdout.buffer
        for i, line in enumerate(lines()):
            m = json_format.Parse(line, cls())
            ev = cloudevent_pb2.CloudEvent(id=str(i), source="/bench",
                                           spec_version="1.0", type="bench.proto")
            ev.proto_data.Pack(m)
            b = ev.SerializeToString()
            w.write(encoder._VarintBytes(len(b)) + b)
    else:
        sys.exit("usage: pbref.py MODULE TYPE VERB")


main()
