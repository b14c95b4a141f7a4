#!/usr/bin/python3
"""A fake EngFlow notification queue (engflow.notification.v1.
NotificationQueue/Pull) on grpcio, for tests/subscribe.bats.

It serves --count notifications whose payloads are real
engflow.eventstore.v1.BuildLifecycleEventNotification messages, in
order, each delivered again on every new stream until it is acked, with
at most --window unacked ones in flight per stream.  Ack tokens are
"<stream>:<index>": an ack with a token from another stream gets an
INVALID_ARGUMENT receipt and is logged as a violation (engflow.md 1.2:
acks must come on the stream the notification came from).

What it saw goes to --log as JSON lines: {"call": N, "metadata": {...},
"first": {...}}, {"ack": ID, "call": N}, {"violation": TEXT}, ...  The
acked ids persist in --state DIR/acked, so a server killed and started
again on the same --port goes on where it was.

--check-output FILE: every acked id must already be in FILE, the
  subscriber's stdout (delimited CloudEvents); else a violation.
--check-returned FILE: every acked id must already be a line of FILE
  (what the last stage wrote back on the --ack-from FIFO).
--sent-file FILE: how many notifications this stream sent so far
  (every 100), to watch flow control hold the server back.

Prints "port N" once listening.
"""
import argparse
import json
import os
import queue
import signal
import sys
import threading
import time
import uuid
from concurrent import futures

import grpc

ap = argparse.ArgumentParser()
ap.add_argument("--pyout", required=True)
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--count", type=int, default=10)
ap.add_argument("--window", type=int, default=100)
ap.add_argument("--state", required=True)
ap.add_argument("--log")
ap.add_argument("--token", help="the token required (x-engflow-auth-*)")
ap.add_argument("--token-file", help="the token required, read per call")
ap.add_argument("--bearer", action="store_true",
                help="want authorization: Bearer instead")
ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
ap.add_argument("--client-ca")
ap.add_argument("--refuse-ack-every", type=int, default=0,
                help="answer every Nth ack with DEADLINE_EXCEEDED")
ap.add_argument("--end-after", type=int, default=0,
                help="end each stream (UNAVAILABLE) after N sent")
ap.add_argument("--check-output")
ap.add_argument("--check-returned")
ap.add_argument("--sleep-ms", type=float, default=0,
                help="pause between notifications")
ap.add_argument("--queue-name", default="eventstore/lifecycle-events")
ap.add_argument("--sent-file",
                help="keep the number of notifications sent in this file")
args = ap.parse_args()

sys.path.insert(0, args.pyout)
from engflow.notification.v1 import notification_queue_pb2 as nq  # noqa
from engflow_fixture import nid, notification  # noqa

os.makedirs(args.state, exist_ok=True)
lock = threading.Condition()
acked = set()
ACKED = os.path.join(args.state, "acked")
if os.path.exists(ACKED):
    with open(ACKED) as f:
        acked = set(int(x) for x in f.read().split())
acked_log = open(ACKED, "a")
log_file = open(args.log, "a") if args.log else None
calls = 0
acks_seen = 0


def log(**kw):
    """A JSON line; bytes (a -bin metadata value) in hex."""
    if log_file:
        with lock:
            log_file.write(json.dumps(kw, sort_keys=True,
                                      default=lambda b: b.hex()) + "\n")
            log_file.flush()


class Seen:
    """Ids in a growing file, read incrementally."""

    def __init__(self, path, delimited):
        self.path, self.delimited = path, delimited
        self.off, self.ids, self.buf = 0, set(), b""

    def refresh(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except FileNotFoundError:
            return
        self.off += len(data)
        self.buf += data
        if self.delimited:
            self._records()
        else:
            *lines, self.buf = self.buf.split(b"\n")
            self.ids.update(x.decode() for x in lines)

    def _records(self):
        b, p = self.buf, 0
        while True:
            n, shift, q = 0, 0, p
            while q < len(b):
                n |= (b[q] & 0x7F) << shift
                shift += 7
                q += 1
                if not b[q - 1] & 0x80:
                    break
            else:
                break
            if q + n > len(b):
                break
            self.ids.add(ce_id(b[q:q + n]))
            p = q + n
        self.buf = b[p:]

    def __contains__(self, x):
        if x not in self.ids:
            self.refresh()
        return x in self.ids


def ce_id(body):
    """Field 1 (id) of a CloudEvent, by hand."""
    p = 0
    while p < len(body):
        key, p = varint(body, p)
        if key & 7 == 2:
            ln, p = varint(body, p)
            if key >> 3 == 1:
                return body[p:p + ln].decode()
            p += ln
        elif key & 7 == 0:
            _, p = varint(body, p)
        else:
            p += 8 if key & 7 == 1 else 4
    return ""


def varint(b, p):
    n = shift = 0
    while True:
        n |= (b[p] & 0x7F) << shift
        shift += 7
        p += 1
        if not b[p - 1] & 0x80:
            return n, p


out_seen = Seen(args.check_output, True) if args.check_output else None
ret_seen = Seen(args.check_returned, False) if args.check_returned else None


def check_auth(context):
    md = dict(context.invocation_metadata())
    want = [args.token] if args.token else None
    if args.token_file:
        # one token a line: any of them is good (a rotation in progress)
        with open(args.token_file) as f:
            want = f.read().split()
    if args.bearer:
        ok = md.get("authorization") in ["Bearer %s" % t for t in want]
        bad = "x-engflow-auth-token" in md
    elif want is not None:
        ok = (md.get("x-engflow-auth-method") == "jwt-v0" and
              md.get("x-engflow-auth-token") in want)
        bad = "authorization" in md
    else:
        # engflow.md 2.2: no token, no (empty) token headers at all
        ok = True
        bad = any(k in md for k in ("x-engflow-auth-method",
                                    "x-engflow-auth-token"))
    if bad:
        log(violation="unexpected auth header", metadata=md)
    return ok and not bad


def pull(request_iterator, context):
    global calls, acks_seen
    with lock:
        calls += 1
        call = calls
    stream = uuid.uuid4().hex[:8]
    md = dict(context.invocation_metadata())
    if not check_auth(context):
        log(call=call, refused="token", metadata=md)
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad token")
    out = queue.Queue()
    inflight = set()
    again = []
    done = threading.Event()
    first = {}

    def reader():
        global acks_seen
        try:
            for i, req in enumerate(request_iterator):
                if i == 0:
                    first.update(queue=req.queue.name, client=req.client,
                                 tokens=len(req.acknowledgement_tokens))
                    if req.HasField("notification_delivery_options"):
                        d = req.notification_delivery_options
                        first["deadline"] = d.acknowledgement_deadline.seconds
                    log(call=call, metadata=md, first=first)
                    if req.queue.name != args.queue_name:
                        out.put(("abort", "no such queue"))
                        return
                    if req.acknowledgement_tokens:
                        log(violation="tokens on the first request")
                    out.put(("start", None))
                    continue
                if req.HasField("queue") or req.client:
                    log(violation="queue or client repeated")
                receipts = nq.PullNotificationResponse()
                for t in req.acknowledgement_tokens:
                    s, _, idx = t.partition(":")
                    r = receipts.acknowledgement_receipt.add(token=t)
                    if s != stream:
                        log(violation="ack on the wrong stream", token=t)
                        r.status.code = 3
                        continue
                    idx = int(idx)
                    with lock:
                        acks_seen += 1
                        n = acks_seen
                    if (args.refuse_ack_every and
                            n % args.refuse_ack_every == 0):
                        r.status.code = 4
                        r.status.message = "too late"
                        log(call=call, refused_ack=nid(idx))
                        with lock:
                            inflight.discard(idx)
                            again.append(idx)  # a new delivery, later
                            lock.notify_all()
                        continue
                    if out_seen is not None and nid(idx) not in out_seen:
                        log(violation="acked before written", id=nid(idx))
                    if ret_seen is not None and nid(idx) not in ret_seen:
                        log(violation="acked before it came back",
                            id=nid(idx))
                    with lock:
                        if idx not in acked:
                            acked.add(idx)
                            acked_log.write("%d\n" % idx)
                            acked_log.flush()
                        inflight.discard(idx)
                        lock.notify_all()
                    log(call=call, ack=nid(idx))
                out.put(("msg", receipts.SerializeToString()))
        except grpc.RpcError:
            pass
        finally:
            done.set()
            with lock:
                lock.notify_all()
            out.put(("end", None))

    threading.Thread(target=reader, daemon=True).start()
    kind, _ = out.get()
    if kind != "start":
        if kind == "abort":
            context.abort(grpc.StatusCode.NOT_FOUND, "no such queue")
        return
    sent = 0
    nxt = 0
    while not done.is_set() and context.is_active():
        while True:
            try:
                kind, msg = out.get_nowait()
            except queue.Empty:
                break
            if kind == "msg":
                yield msg
        with lock:
            idx = None
            while nxt < args.count and (nxt in acked):
                nxt += 1
            if again and len(inflight) < args.window:
                idx = again.pop(0)
                inflight.add(idx)
            elif nxt < args.count and len(inflight) < args.window:
                idx = nxt
                inflight.add(idx)
                nxt += 1
            else:
                lock.wait(0.05)
        if idx is None:
            continue
        r = nq.PullNotificationResponse()
        r.notification.token = "%s:%d" % (stream, idx)
        r.notification.notification.CopyFrom(notification(idx))
        yield r.SerializeToString()
        sent += 1
        if args.sent_file and sent % 100 == 0:
            with open(args.sent_file + ".tmp", "w") as f:
                f.write("%d\n" % sent)
            os.replace(args.sent_file + ".tmp", args.sent_file)
        if args.sleep_ms:
            time.sleep(args.sleep_ms / 1000)
        if args.end_after and sent >= args.end_after:
            # let receipts for what was acked so far go out first
            time.sleep(0.2)
            while True:
                try:
                    kind, msg = out.get_nowait()
                except queue.Empty:
                    break
                if kind == "msg":
                    yield msg
            log(call=call, ended=sent)
            context.abort(grpc.StatusCode.UNAVAILABLE, "stream ended")


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    handler = grpc.method_handlers_generic_handler(
        "engflow.notification.v1.NotificationQueue",
        {"Pull": grpc.stream_stream_rpc_method_handler(
            pull,
            request_deserializer=nq.PullNotificationRequest.FromString)})
    server.add_generic_rpc_handlers((handler,))
    addr = "127.0.0.1:%d" % args.port
    if args.tls:
        with open(args.tls[0], "rb") as f:
            cert = f.read()
        with open(args.tls[1], "rb") as f:
            key = f.read()
        ca = None
        if args.client_ca:
            with open(args.client_ca, "rb") as f:
                ca = f.read()
        creds = grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca,
            require_client_auth=ca is not None)
        port = server.add_secure_port(addr, creds)
    else:
        port = server.add_insecure_port(addr)
    server.start()
    print("port %d" % port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    while not stop.wait(0.2):
        pass
    server.stop(1).wait()


main()
