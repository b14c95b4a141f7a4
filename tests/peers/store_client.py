#!/usr/bin/python3
"""grpcio's side of the store tests: a client for awakari.messages.Service
and awakari.messages.cleaner.Service (proto/api/grpc/messages/), as
awakari's own Go clients call them, plus health.

  store_client.py TARGET COMMAND [options] [ARG ...]

Commands:
  put            PutBatch with the delimited CloudEvents read on stdin,
                 --batch N per call (default: all in one call).  Events
                 are parsed and re-encoded by Google's runtime unless
                 --raw (then sent as the exact bytes read).  --sent FILE
                 gets the events as sent, delimited.  Prints
                 {"ackCount": N} per call.
  get ID...      GetBatch; prints {"ids": [...]} (the ids received, in
                 order); --out FILE gets the events, delimited, as the
                 bytes that came.
  delete ID...   DeleteBatch; prints {"ackCount": N}.
  clean          Clean; prints {"count": N}.
  health         grpc.health.v1 Check of --service; prints {"health": S}.
  raw PATH HEX   sends the bytes HEX as the request of PATH
                 (/pkg.Service/Method); prints {"response": HEX}.
  load           --clients C threads, each making --puts P PutBatch calls
                 of one event (id "{--prefix}{client}-{n}") on its own
                 channel; prints {"calls": N, "ok": K, "acked": A,
                 "codes": {...}} and no status line.  --acked FILE gets
                 each acked id as soon as the answer came (one a line);
                 --stop-on-error ends a client at its first failure.
  bench          the delimited events on stdin, in PutBatch calls of
                 --batch N, sent by --clients threads (each its own
                 connection) as fast as they are answered; prints
                 {"events": N, "seconds": S, "events_per_s": R, "ok": K}.

After the answers, always a status line:
  {"status": "OK", "code": 0, "details": ""}
Exit 0 whenever that line is printed, whatever the status; 2 for usage
errors.  --pyout (default $STORE_PYOUT) is where tests/peers/gen_store
wrote the Python modules."""
import argparse
import json
import os
import sys
import threading

import grpc

MIB = 1024 * 1024


def emit(obj):
    print(json.dumps(obj), flush=True)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(data, pos):
    shift = n = 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


def records(data):
    """The bodies of delimited records."""
    pos = 0
    while pos < len(data):
        n, pos = read_varint(data, pos)
        yield data[pos:pos + n]
        pos += n


def field1(data):
    """The length-delimited field-1 values of a message, as they are."""
    pos, out = 0, []
    while pos < len(data):
        key, pos = read_varint(data, pos)
        wt = key & 7
        if wt == 0:
            _, pos = read_varint(data, pos)
            continue
        if wt == 1:
            pos += 8
            continue
        if wt == 5:
            pos += 4
            continue
        n, pos = read_varint(data, pos)
        if key >> 3 == 1:
            out.append(data[pos:pos + n])
        pos += n
    return out


def delimited(bodies):
    return b"".join(varint(len(b)) + b for b in bodies)


def status_of(err_or_call):
    code = err_or_call.code()
    return {"status": code.name, "code": code.value[0],
            "details": err_or_call.details() or ""}


def parse_args():
    ap = argparse.ArgumentParser(description="grpcio awakari messages client")
    ap.add_argument("target")
    ap.add_argument("command", choices=("put", "get", "delete", "clean",
                                        "health", "raw", "load", "bench"))
    ap.add_argument("args", nargs="*")
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--raw", action="store_true")
    ap.add_argument("--sent")
    ap.add_argument("--out")
    ap.add_argument("--service", default="")
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--puts", type=int, default=1)
    ap.add_argument("--prefix", default="e")
    ap.add_argument("--acked", metavar="FILE",
                    help="load: append each acked id to FILE at once")
    ap.add_argument("--stop-on-error", action="store_true",
                    help="load: a client stops at its first failed call")
    ap.add_argument("--token")
    ap.add_argument("--tls", metavar="CA")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--authority")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--max-recv", type=int, default=64 * MIB)
    ap.add_argument("--pyout", default=os.environ.get("STORE_PYOUT"))
    return ap.parse_args()


def make_channel(args):
    # a connection of its own for each channel (load: one per client)
    options = [("grpc.max_receive_message_length", args.max_recv),
               ("grpc.max_send_message_length", 64 * MIB),
               ("grpc.enable_http_proxy", 0),
               ("grpc.use_local_subchannel_pool", 1)]
    if not args.tls:
        return grpc.insecure_channel(args.target, options=options)

    def read(p):
        with open(p, "rb") as f:
            return f.read()

    if args.authority:
        options.append(("grpc.ssl_target_name_override", args.authority))
    creds = grpc.ssl_channel_credentials(
        root_certificates=read(args.tls),
        private_key=read(args.key) if args.key else None,
        certificate_chain=read(args.cert) if args.cert else None)
    return grpc.secure_channel(args.target, creds, options=options)


def main():
    args = parse_args()
    if args.pyout:
        sys.path.insert(0, args.pyout)
    import cloudevent_pb2
    from api.grpc.messages import cleaner_pb2, service_pb2
    import health_pb2
    import health_pb2_grpc

    md = [("authorization", "Bearer " + args.token)] if args.token else None
    kw = {"timeout": args.timeout, "metadata": md}
    channel = make_channel(args)
    ident = lambda b: b  # noqa: E731 (requests and answers as raw bytes)

    def method(path):
        return channel.unary_unary(path, request_serializer=ident,
                                   response_deserializer=ident)

    def call(path, body, show):
        try:
            resp, c = method(path).with_call(body, **kw)
        except grpc.RpcError as e:
            emit(status_of(e))
            return
        show(resp)
        emit(status_of(c))

    if args.command == "put":
        bodies = list(records(sys.stdin.buffer.read()))
        if not args.raw:
            bodies = [cloudevent_pb2.CloudEvent.FromString(b)
                      .SerializeToString() for b in bodies]
        if args.sent:
            with open(args.sent, "wb") as f:
                f.write(delimited(bodies))
        size = args.batch or max(len(bodies), 1)
        chunks = [bodies[i:i + size] for i in range(0, len(bodies), size)]
        for chunk in chunks or [[]]:
            body = b"".join(b"\x0a" + varint(len(b)) + b for b in chunk)
            if not args.raw:
                # what Google's runtime makes of it must be the same bytes
                req = service_pb2.PutBatchRequest(
                    msgs=[cloudevent_pb2.CloudEvent.FromString(b)
                          for b in chunk])
                assert req.SerializeToString() == body
            failed = []

            def show(resp):
                emit({"ackCount": service_pb2.PutBatchResponse
                      .FromString(resp).ackCount})
            try:
                resp, c = method("/awakari.messages.Service/PutBatch") \
                    .with_call(body, **kw)
            except grpc.RpcError as e:
                emit(status_of(e))
                return
            show(resp)
            last = c
        emit(status_of(last))
    elif args.command == "get":
        body = service_pb2.GetBatchRequest(ids=args.args).SerializeToString()

        def show(resp):
            evs = field1(resp)
            ids = [cloudevent_pb2.CloudEvent.FromString(e).id for e in evs]
            # Google's runtime agrees with our reading of the answer
            assert len(service_pb2.GetBatchResponse.FromString(resp).msgs) \
                == len(evs)
            if args.out:
                with open(args.out, "wb") as f:
                    f.write(delimited(evs))
            emit({"ids": ids})
        call("/awakari.messages.Service/GetBatch", body, show)
    elif args.command == "delete":
        body = service_pb2.DeleteBatchRequest(ids=args.args) \
            .SerializeToString()
        call("/awakari.messages.Service/DeleteBatch", body,
             lambda r: emit({"ackCount": service_pb2.DeleteBatchResponse
                             .FromString(r).ackCount}))
    elif args.command == "clean":
        call("/awakari.messages.cleaner.Service/Clean",
             cleaner_pb2.CleanRequest().SerializeToString(),
             lambda r: emit({"count": cleaner_pb2.CleanResponse
                             .FromString(r).count}))
    elif args.command == "health":
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            r, c = stub.Check.with_call(
                health_pb2.HealthCheckRequest(service=args.service), **kw)
        except grpc.RpcError as e:
            emit(status_of(e))
            return
        emit({"health": health_pb2.HealthCheckResponse.ServingStatus
              .Name(r.status)})
        emit(status_of(c))
    elif args.command == "raw":
        path, hexbody = args.args
        call(path, bytes.fromhex(hexbody),
             lambda r: emit({"response": r.hex()}))
    elif args.command == "load":
        load(args, kw, make_channel, cloudevent_pb2)
    elif args.command == "bench":
        bench(args, kw, make_channel)


def bench(args, kw, make_channel):
    import time
    bodies = list(records(sys.stdin.buffer.read()))
    size = args.batch or 1000
    reqs = [b"".join(b"\x0a" + varint(len(b)) + b
                     for b in bodies[i:i + size])
            for i in range(0, len(bodies), size)]
    lock = threading.Lock()
    state = {"next": 0, "ok": 0}
    chans = [make_channel(args) for _ in range(args.clients)]
    for ch in chans:  # connected before the clock starts
        grpc.channel_ready_future(ch).result(timeout=30)

    def client(ch):
        put = ch.unary_unary("/awakari.messages.Service/PutBatch",
                             request_serializer=lambda b: b,
                             response_deserializer=lambda b: b)
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= len(reqs):
                return
            put(reqs[i], **kw)
            with lock:
                state["ok"] += 1

    threads = [threading.Thread(target=client, args=(ch,)) for ch in chans]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - start
    emit({"events": len(bodies), "seconds": round(secs, 3),
          "events_per_s": round(len(bodies) / secs), "ok": state["ok"]})


def load(args, kw, make_channel, cloudevent_pb2):
    lock = threading.Lock()
    totals = {"calls": 0, "ok": 0, "acked": 0, "codes": {}}
    acked = open(args.acked, "a", buffering=1) if args.acked else None

    def client(k):
        ch = make_channel(args)
        put = ch.unary_unary("/awakari.messages.Service/PutBatch",
                             request_serializer=lambda b: b,
                             response_deserializer=lambda b: b)
        for i in range(args.puts):
            ev = cloudevent_pb2.CloudEvent(
                id="%s%d-%d" % (args.prefix, k, i), source="/load",
                spec_version="1.0", type="load.test", text_data="x" * 64)
            body = ev.SerializeToString()
            req = b"\x0a" + varint(len(body)) + body
            try:
                resp = put(req, **kw)
                code, ok = "OK", 1 if resp == b"\x08\x01" else 0
            except grpc.RpcError as e:
                code, ok = e.code().name, 0
            with lock:
                totals["calls"] += 1
                totals["ok"] += code == "OK"
                totals["acked"] += ok
                totals["codes"][code] = totals["codes"].get(code, 0) + 1
                if ok and acked:
                    acked.write(ev.id + "\n")
            if code != "OK" and args.stop_on_error:
                break
        ch.close()

    threads = [threading.Thread(target=client, args=(k,))
               for k in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if acked:
        acked.close()
    emit(totals)


if __name__ == "__main__":
    main()
