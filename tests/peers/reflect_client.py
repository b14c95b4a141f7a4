#!/usr/bin/python3
"""A server-reflection client on grpcio, doing what grpcurl does (Debian
has neither grpcurl nor python3-grpcio-reflection).

  reflect_client.py TARGET [options] REQUEST...
      REQUEST is one of
        list                  list_services
        file:NAME             file_by_filename
        symbol:NAME           file_containing_symbol
        ext:TYPE:NUMBER       file_containing_extension
        extnums:TYPE          all_extension_numbers_of_type
        none                  a request with no field set
      All requests go on one ServerReflectionInfo stream, in order.  One
      JSON line per response:
        {"services": ["a.B", ...]}
        {"files": ["x.proto", "dep.proto"]}      (each parsed as a
                                                 FileDescriptorProto)
        {"extension_numbers": {"type": "p.M", "numbers": [100]}}
        {"error": {"code": 5, "message": "..."}}
      each also with "host" (valid_host) and "echo" (original_request,
      as the REQUEST argument it came from), then a status line.

  reflect_client.py TARGET [options] call /pkg.Service/Method JSON
      Knows nothing of the service: finds the file declaring pkg.Service
      by reflection, builds the message classes from the descriptors
      (descriptor_pool + message_factory), sends JSON (proto3 JSON of the
      request; a JSON list of them for client streaming) and prints
        {"method": {"input": ..., "output": ...,
                    "client_streaming": false, "server_streaming": true}}
        {"reply": {...proto3 JSON...}}          (one per reply)
      then a status line.

  Options: --v1alpha (the v1alpha service), --host NAME (the request's
  host field), --timeout SECONDS, --pyout DIR (default $ECHO_PYOUT, what
  tests/peers/gen wrote), --token T (every call sends the header
  authorization: Bearer T).  The status line is
      {"status": "OK", "code": 0, "details": ""}
  and the exit status 0 whenever it is printed."""
import argparse
import json
import os
import sys

import grpc
from google.protobuf import (descriptor_pb2, descriptor_pool, json_format,
                             message_factory)


def emit(obj):
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def status_line(code, details):
    emit({"status": code.name, "code": code.value[0], "details": details or ""})


def load(args):
    if args.pyout:
        sys.path.insert(0, args.pyout)
    name = "reflection_v1alpha" if args.v1alpha else "reflection_v1"
    try:
        pb2 = __import__(name + "_pb2")
        pb2_grpc = __import__(name + "_pb2_grpc")
    except ImportError as e:
        sys.exit(f"reflect_client.py: {e} (run tests/peers/gen DIR; give --pyout DIR)")
    return pb2, pb2_grpc


def make_request(pb2, host, text):
    r = pb2.ServerReflectionRequest(host=host)
    kind, _, arg = text.partition(":")
    if kind == "list":
        r.list_services = ""
    elif kind == "file":
        r.file_by_filename = arg
    elif kind == "symbol":
        r.file_containing_symbol = arg
    elif kind == "ext":
        typ, _, num = arg.rpartition(":")
        r.file_containing_extension.containing_type = typ
        r.file_containing_extension.extension_number = int(num)
    elif kind == "extnums":
        r.all_extension_numbers_of_type = arg
    elif kind != "none":
        raise SystemExit(f"reflect_client.py: bad request {text!r}")
    return r


def describe_request(r):
    """The REQUEST argument an original_request stands for."""
    which = r.WhichOneof("message_request")
    if which is None:
        return "none"
    if which == "list_services":
        return "list"
    if which == "file_containing_extension":
        e = r.file_containing_extension
        return f"ext:{e.containing_type}:{e.extension_number}"
    short = {"file_by_filename": "file", "file_containing_symbol": "symbol",
             "all_extension_numbers_of_type": "extnums"}[which]
    return f"{short}:{getattr(r, which)}"


def response_json(resp):
    which = resp.WhichOneof("message_response")
    out = {}
    if which == "list_services_response":
        out["services"] = [s.name for s in resp.list_services_response.service]
    elif which == "file_descriptor_response":
        files = []
        for raw in resp.file_descriptor_response.file_descriptor_proto:
            fd = descriptor_pb2.FileDescriptorProto()
            fd.ParseFromString(raw)
            files.append(fd.name)
        out["files"] = files
    elif which == "all_extension_numbers_response":
        x = resp.all_extension_numbers_response
        out["extension_numbers"] = {"type": x.base_type_name,
                                    "numbers": sorted(x.extension_number)}
    elif which == "error_response":
        out["error"] = {"code": resp.error_response.error_code,
                        "message": resp.error_response.error_message}
    else:
        out["empty"] = True
    out["host"] = resp.valid_host
    out["echo"] = describe_request(resp.original_request)
    return out


# Sent with every call: ("authorization", "Bearer T") given --token T.
METADATA = []


def reflect(stub, reqs, timeout):
    """Send reqs on one stream; the responses, in order."""
    return list(stub.ServerReflectionInfo(iter(reqs), timeout=timeout,
                                          metadata=METADATA))


def message_class(pool, name):
    desc = pool.FindMessageTypeByName(name)
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.21
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def call(args, channel, stub, pb2):
    path = args.requests[1]
    service, _, method = path.lstrip("/").rpartition("/")
    resp = reflect(stub, [make_request(pb2, args.host, "symbol:" + service)],
                   args.timeout)[0]
    if resp.WhichOneof("message_response") != "file_descriptor_response":
        emit(response_json(resp))
        status_line(grpc.StatusCode.NOT_FOUND, "service not found by reflection")
        return
    # The pool gets exactly what reflection sent: the file and its imports.
    pool = descriptor_pool.DescriptorPool()
    protos = [descriptor_pb2.FileDescriptorProto.FromString(raw)
              for raw in resp.file_descriptor_response.file_descriptor_proto]
    added, pending = set(), protos
    while pending:  # imports before importers
        rest = [fd for fd in pending if not set(fd.dependency) <= added]
        if len(rest) == len(pending):
            raise SystemExit("reflect_client.py: reflection left out an import")
        for fd in pending:
            if fd not in rest:
                pool.Add(fd)
                added.add(fd.name)
        pending = rest
    mdesc = pool.FindServiceByName(service).methods_by_name[method]
    # Streaming is not on python's MethodDescriptor here: read the proto.
    mproto = descriptor_pb2.MethodDescriptorProto()
    mdesc.CopyToProto(mproto)
    Req = message_class(pool, mdesc.input_type.full_name)
    Rep = message_class(pool, mdesc.output_type.full_name)
    emit({"method": {"input": mdesc.input_type.full_name,
                     "output": mdesc.output_type.full_name,
                     "client_streaming": mproto.client_streaming,
                     "server_streaming": mproto.server_streaming}})
    body = json.loads(args.requests[2])
    reqs = [json_format.ParseDict(b, Req()) for b in
            (body if mproto.client_streaming else [body])]
    kinds = {(False, False): channel.unary_unary,
             (False, True): channel.unary_stream,
             (True, False): channel.stream_unary,
             (True, True): channel.stream_stream}
    rpc = kinds[(mproto.client_streaming, mproto.server_streaming)](
        path, request_serializer=Req.SerializeToString,
        response_deserializer=Rep.FromString)
    arg = iter(reqs) if mproto.client_streaming else reqs[0]
    try:
        if mproto.server_streaming:
            it = rpc(arg, timeout=args.timeout, metadata=METADATA)
            for rep in it:
                emit({"reply": json_format.MessageToDict(rep)})
            status_line(it.code(), it.details())
        else:
            rep, c = rpc.with_call(arg, timeout=args.timeout,
                                    metadata=METADATA)
            emit({"reply": json_format.MessageToDict(rep)})
            status_line(c.code(), c.details())
    except grpc.RpcError as e:
        status_line(e.code(), e.details())


def main():
    ap = argparse.ArgumentParser(description="server reflection client")
    ap.add_argument("target")
    ap.add_argument("requests", nargs="+", metavar="REQUEST")
    ap.add_argument("--v1alpha", action="store_true")
    ap.add_argument("--host", default="")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--pyout", default=os.environ.get("ECHO_PYOUT"))
    ap.add_argument("--token", help="send authorization: Bearer TOKEN")
    args = ap.parse_args()
    if args.token is not None:
        METADATA.append(("authorization", "Bearer " + args.token))
    if args.requests[0] == "call" and len(args.requests) != 3:
        ap.error("call /pkg.Service/Method JSON")

    pb2, pb2_grpc = load(args)
    channel = grpc.insecure_channel(
        args.target, options=[("grpc.enable_http_proxy", 0)])
    stub = pb2_grpc.ServerReflectionStub(channel)
    try:
        if args.requests[0] == "call":
            call(args, channel, stub, pb2)
            return
        reqs = [make_request(pb2, args.host, t) for t in args.requests]
        try:
            for resp in reflect(stub, reqs, args.timeout):
                emit(response_json(resp))
        except grpc.RpcError as e:
            status_line(e.code(), e.details())
            return
        status_line(grpc.StatusCode.OK, "")
    finally:
        channel.close()


if __name__ == "__main__":
    main()
