#!/usr/bin/python3
"""A fake EngFlow event store for resolve's tests, on python3-grpcio and
Google's protobuf runtime (none of evpipe's code), plus the notifications
that point at it and a checker for what resolve made of them.

  eventstore.py serve [options]      the server; prints "port N"
  eventstore.py notify [options] ID...   delimited CloudEvents on stdout
  eventstore.py check [options] ID... < resolve-output

Every invocation (and build) has a fixed, generated event stream, so the
three commands agree on it without talking to each other: --events N
events (default 1000; --events-for ID=N for one id), the first an
InvocationAttemptStarted (BuildEnqueued for a build), the last an
InvocationAttemptFinished (BuildFinished) with is_last set, the others
bazel_event payloads that name the id and the index.  event_time is
1700000000 + index seconds, index nanoseconds.

serve: engflow.eventstore.v1.EventStore GetInvocation and GetBuild.
  --port N (0: a free one), --pyout DIR (Python modules are compiled
  there with protoc on first use), --log FILE (JSON lines: {"phase":
  "start", "call": N, "method", "id", "instance", "token" (the index it
  resumes after, or null), "auth" (the auth headers), "replay_mode"}
  before the first answer, {"phase": "end", "call": N, "sent", "end"
  (the status)} when the call ends),
  --token T (require x-engflow-auth-method: jwt-v0 and
  x-engflow-auth-token: T, else UNAUTHENTICATED), --bearer T (require
  authorization: Bearer T), --not-found ID, --deny ID (PERMISSION_DENIED),
  --fail ID=CODE (end that id's calls with CODE before any event),
  --cut P (after each event, with probability P, end the call with a
  code from --cut-codes, default UNAVAILABLE), --seed S, --known ID=K
  (only K events are known yet: STOP_AFTER_LAST_KNOWN ends there without
  is_last, UNTIL_COMPLETE goes on with the rest, one every --live-ms ms),
  --workers N, --payload-size N (bytes added to each bazel_event),
  --tokenless P (an event has no continuation token with probability
  P: a client resumes after the last token it got, and must drop what
  it already has), --cut-at ID=K (every call for ID ends UNAVAILABLE
  right after event K), --hang ID=K (every call for ID sends its first K
  events, then nothing more until the client cancels it: a handler that
  sleeps; K=0 sends none).
  --tls CERT KEY serves TLS with that certificate chain and key (PEM);
  --client-ca CA (with --tls) also requires a client certificate
  signed by CA.
  --queue ID (repeatable) also serves engflow.notification.v1.
  NotificationQueue/Pull on the same port, as a cluster does: the queue
  named --queue-name (default eventstore/lifecycle-events) delivers an
  InvocationFinished notification for each ID (ID:NID as for notify;
  ack token "t-" + ID) until it is acknowledged; acks are logged as
  {"phase": "ack", "token"}.
  --queue-state DIR makes that queue as strict and as durable as a
  cluster's (the chaos test kills it with SIGKILL): ack tokens are
  "<stream>:<ID>", good on the stream that delivered them only (an ack
  on another stream, or of a token never delivered, gets an
  INVALID_ARGUMENT receipt and a {"violation"} line in --log and in
  DIR/violations.jsonl); the acknowledged ids persist in DIR/acked and
  are never delivered again after a restart; DIR/acks.jsonl gets
  {"t", "id", "nid", "stream", "token"} for each first ack, and
  DIR/deliveries.jsonl {"t", "id", "nid", "stream"} for each delivery,
  each line flushed before the receipt or the notification goes out.
  With it: --queue-kind ID=KIND (invocation-finished, the default,
  invocation-started, build-started, build-finished; a build kind's ID
  is the build id), --queue-window N (at most N unacknowledged on a
  stream), --queue-pace MS (the k-th --queue id, from 0, is queued k*MS
  ms after the queue first started, that time kept in DIR/t0).
  An argument @FILE stands for the lines of FILE, one argument each
  (for many --queue ids).
  Continuation tokens are opaque: base64 of a server salt (random, or
  --salt HEX12 so that tokens outlive a restart), the id and the index;
  a token with another salt is INVALID_ARGUMENT.

notify: one CloudEvent per id, as subscribe writes them (type
  engflow.eventstore.v1.BuildLifecycleEventNotification.<Kind>, subject,
  engflowbuildid, engflowinstance): proto_data is the
  engflow.notification.v1.Notification whose payload is a
  BuildLifecycleEventNotification (--direct: the payload itself).
  --kind invocation-finished (default), invocation-started,
  build-started, build-finished; --instance NAME; --ack (set evpipeack to
  "ack-" + the notification id); ID may be ID:NOTIFICATION_ID (default
  "n-" + ID).  --unknown adds nothing: use evcat for other events.

check: reads resolve's output and checks that it is exactly the events
  of the ids given, in that order, each id's events contiguous, once,
  with subject, sequence, type and proto_data as resolve.1 says, and
  evpipeack on the last event of each id only (--ack or --ack-values:
  the value "ack-n-ID", else "n-ID"; ID:NID as for notify).
  --passthrough N: N other records may appear between ids (counted, not
  checked).  --notifications: ahead of each id's events comes its
  notification, byte for byte as notify writes it with the same --kind,
  --instance, --direct and --ack, but without evpipeack
  (resolve --pass-notifications).  --prefix: the output may stop
  anywhere (a stop cut it short): the ids' events in order up to some
  point, the last id maybe incomplete, and then without evpipeack;
  prints "ok N events, C complete".  Prints "ok N events" or the first
  difference, exit 0 or 1."""
import argparse
import base64
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "..", "proto")
FILES = [
    "cloudevent.proto",
    "engflow/auth/auth_context.proto",
    "engflow/eventstore/v1/build_event.proto",
    "engflow/eventstore/v1/eventstore.proto",
    "engflow/eventstore/v1/notifications.proto",
    "engflow/iam/v1/user.proto",
    "engflow/notification/v1/notification.proto",
    "engflow/notification/v1/notification_queue.proto",
    "google/devtools/build/v1/build_events.proto",
    "google/devtools/build/v1/build_status.proto",
    "google/devtools/build/v1/publish_build_event.proto",
    "google/rpc/status.proto",
]
SERVICE = "engflow.eventstore.v1.EventStore"
EPOCH = 1700000000


def load(pyout):
    """Compile the protos into pyout (once) and import them."""
    pyout = pyout or os.environ.get("ECHO_PYOUT") or os.path.join(
        os.environ.get("TMPDIR", "/tmp"), "evpipe-eventstore-py")
    stamp = os.path.join(pyout, "eventstore.stamp")
    if not os.path.exists(stamp):
        os.makedirs(pyout, exist_ok=True)
        subprocess.run(["protoc", "-I" + PROTO, "--python_out=" + pyout] +
                       [os.path.join(PROTO, f) for f in FILES], check=True)
        with open(stamp, "w"):
            pass
    sys.path.insert(0, pyout)
    global pb, bev, bes, nf, ntf, nq, ce
    from engflow.eventstore.v1 import eventstore_pb2 as pb
    from engflow.notification.v1 import notification_queue_pb2 as nq
    from engflow.eventstore.v1 import build_event_pb2 as bev
    from engflow.eventstore.v1 import notifications_pb2 as nf
    from engflow.notification.v1 import notification_pb2 as ntf
    from google.devtools.build.v1 import build_events_pb2 as bes
    import cloudevent_pb2 as ce


def counts(args):
    per = {}
    for spec in args.events_for:
        k, v = spec.rsplit("=", 1)
        per[k] = int(v)
    return lambda i: per.get(i, args.events)


def event(kind, ident, i, n, pad=0):
    """The i-th BuildProgressEvent (of n) of an invocation or build;
    pad: bytes of payload added to each bazel_event."""
    e = bev.BuildProgressEvent()
    if kind == "build":
        e.stream_id.build_id = ident
        e.stream_id.invocation_id = ident + "-inv"
    else:
        e.stream_id.build_id = "b-" + ident
        e.stream_id.invocation_id = ident
    e.stream_id.component = bes.StreamId.TOOL
    be = e.build_event
    be.event_time.seconds = EPOCH + i
    be.event_time.nanos = i
    if i == 0 and kind == "build":
        be.build_enqueued.SetInParent()
    elif i == 0:
        be.invocation_attempt_started.attempt_number = 1
        e.notification_keywords.append("command_name=test")
    elif i == n - 1 and kind == "build":
        be.build_finished.status.result = 1
    elif i == n - 1:
        be.invocation_attempt_finished.invocation_status.result = 1
    else:
        be.bazel_event.type_url = "type.googleapis.com/build_event_stream.BuildEvent"
        be.bazel_event.value = ("%s event %d of %d" % (ident, i, n)).encode() + b"." * pad
    return e


def b64(b):
    return base64.urlsafe_b64encode(b).decode()


class Store:
    def __init__(self, args):
        self.args = args
        self.n = counts(args)
        self.salt = bytes.fromhex(args.salt) if args.salt else os.urandom(6)
        self.known = {}
        for spec in args.known:
            k, v = spec.rsplit("=", 1)
            self.known[k] = int(v)
        self.cut_at = {}
        for spec in args.cut_at:
            k, v = spec.rsplit("=", 1)
            self.cut_at[k] = int(v)
        self.hang = {}
        for spec in args.hang:
            k, v = spec.rsplit("=", 1)
            self.hang[k] = int(v)
        self.fail = {}
        for spec in args.fail:
            k, v = spec.rsplit("=", 1)
            self.fail[k] = v
        self.lock = threading.Lock()
        self.calls = 0

    def token(self, ident, i):
        return b64(self.salt + ("%s\n%d" % (ident, i)).encode())

    def untoken(self, ident, tok):
        """Index after which to resume, or None if not ours."""
        try:
            raw = base64.urlsafe_b64decode(tok.encode())
        except Exception:
            return None
        if raw[:6] != self.salt:
            return None
        who, _, idx = raw[6:].decode().rpartition("\n")
        if who != ident or not idx.isdigit():
            return None
        return int(idx)

    def log(self, rec):
        if not self.args.log:
            return
        with self.lock, open(self.args.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")

    def stream(self, kind, req, ctx):
        ident = req.invocation_id if kind == "invocation" else req.build_id
        md = dict(ctx.invocation_metadata())
        with self.lock:
            self.calls += 1
            call = self.calls
        # The request is logged before any answer, the end when it is
        # sent (a client may be gone by then).
        start_rec = {"phase": "start", "call": call, "method": kind,
                     "id": ident, "instance": req.instance_name,
                     "token": None,
                     "auth": {k: v for k, v in md.items()
                              if k in ("x-engflow-auth-method", "authorization",
                                       "x-engflow-auth-token")}}
        if kind == "invocation":
            start_rec["replay_mode"] = req.replay_mode
        if req.continuation_token:
            start_rec["token"] = self.untoken(ident, req.continuation_token)
        self.log(start_rec)
        rec = {"phase": "end", "call": call, "sent": 0, "end": "OK"}

        def end(code, msg):
            rec["end"] = code
            self.log(rec)
            ctx.abort(getattr(grpc.StatusCode, code), msg)

        a = self.args
        if a.token and (md.get("x-engflow-auth-method") != "jwt-v0" or
                        md.get("x-engflow-auth-token") != a.token):
            end("UNAUTHENTICATED", "bad or missing token")
        if a.bearer and md.get("authorization") != "Bearer " + a.bearer:
            end("UNAUTHENTICATED", "bad or missing bearer token")
        if ident in a.not_found:
            end("NOT_FOUND", "no such " + kind)
        if ident in a.deny:
            end("PERMISSION_DENIED", "not yours")
        if ident in self.fail:
            end(self.fail[ident], "failing on purpose")
        start = 0
        if req.continuation_token:
            idx = self.untoken(ident, req.continuation_token)
            if idx is None:
                end("INVALID_ARGUMENT", "bad continuation token")
            start = idx + 1
        n = self.n(ident)
        known = self.known.get(ident, n)
        stop_known = kind == "invocation" and req.replay_mode == 2
        rng = random.Random("%s/%s/%d/%d" % (a.seed, ident, start, call))
        codes = a.cut_codes.split(",")
        for i in range(start, n):
            if self.hang.get(ident) == i:
                while ctx.is_active():
                    time.sleep(0.05)
                rec["end"] = "CANCELLED"
                self.log(rec)
                return
            if i >= known:
                if stop_known:
                    break
                time.sleep(a.live_ms / 1000)
            if not ctx.is_active():
                rec["end"] = "CANCELLED"
                self.log(rec)
                return
            tok = self.token(ident, i)
            if a.tokenless and random.Random("%s/%s/%d/t" % (a.seed, ident, i)).random() < a.tokenless:
                tok = ""
            yield pb.StreamedBuildEvent(
                is_last=i == n - 1, continuation_token=tok,
                event=event(kind, ident, i, n, a.payload_size), principal="alice")
            rec["sent"] += 1
            if i < n - 1 and a.cut and rng.random() < a.cut:
                end(rng.choice(codes), "cut after event %d" % i)
            if self.cut_at.get(ident) == i:
                end("UNAVAILABLE", "always cut after event %d" % i)
        self.log(rec)


class Queue:
    """engflow.notification.v1.NotificationQueue/Pull for the --queue
    ids: each stream delivers, in order, the ones not yet acknowledged,
    answers each ack with an OK receipt, then waits."""

    def __init__(self, args, log):
        self.args = args
        self.log = log
        self.acked = set()
        self.lock = threading.Lock()

    def pull(self, reqs, ctx):
        import queue as q
        first = next(reqs, None)
        if first is None or first.queue.name != self.args.queue_name:
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT if first is not None
                      else grpc.StatusCode.CANCELLED, "no such queue")
        self.log({"phase": "pull", "queue": first.queue.name})
        receipts = q.Queue()

        def read():
            for r in reqs:
                for t in r.acknowledgement_tokens:
                    with self.lock:
                        self.acked.add(t)
                    self.log({"phase": "ack", "token": t})
                    receipts.put(t)
            receipts.put(None)

        threading.Thread(target=read, daemon=True).start()
        for spec in self.args.queue:
            ident, nid = split_id(spec)
            token = "t-" + ident
            with self.lock:
                if token in self.acked:
                    continue
            n, _ = notification("invocation-finished", ident, nid)
            yield nq.PullNotificationResponse(
                notification=nq.PullNotificationResponse.AcknowledgeableNotification(
                    token=token, notification=n))
        while ctx.is_active():
            try:
                t = receipts.get(timeout=0.1)
            except q.Empty:
                continue
            if t is None:
                return
            r = nq.PullNotificationResponse()
            r.acknowledgement_receipt.add(token=t).status.code = 0
            yield r


class StrictQueue:
    """The queue of --queue-state: stream-bound tokens, an optional
    window per stream and pacing, acks that survive a SIGKILL."""

    def __init__(self, args, log):
        self.args = args
        self.log = log
        self.items = [split_id(spec) for spec in args.queue]
        self.kind = {}
        for spec in args.queue_kind:
            ident, _, kind = spec.rpartition("=")
            self.kind[ident] = kind
        d = args.queue_state
        os.makedirs(d, exist_ok=True)
        self.acked = set()
        path = os.path.join(d, "acked")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                self.acked = set(f.read().split())
        self.acked_f = open(path, "a", encoding="utf-8")
        self.acks_f = open(os.path.join(d, "acks.jsonl"), "a", encoding="utf-8")
        self.deliv_f = open(os.path.join(d, "deliveries.jsonl"), "a",
                            encoding="utf-8")
        self.viol_f = open(os.path.join(d, "violations.jsonl"), "a",
                           encoding="utf-8")
        t0 = os.path.join(d, "t0")
        if os.path.exists(t0):
            with open(t0, encoding="utf-8") as f:
                self.t0 = float(f.read())
        else:
            self.t0 = time.time()
            with open(t0 + ".tmp", "w", encoding="utf-8") as f:
                f.write(repr(self.t0))
            os.replace(t0 + ".tmp", t0)
        self.lock = threading.Condition()

    def append(self, f, rec):
        f.write(json.dumps(rec, sort_keys=True) + "\n")
        f.flush()

    def violation(self, text, **kw):
        rec = dict(kw, violation=text)
        self.log(rec)
        with self.lock:
            self.append(self.viol_f, rec)

    def pull(self, reqs, ctx):
        import queue as q
        first = next(reqs, None)
        if first is None or first.queue.name != self.args.queue_name:
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT if first is not None
                      else grpc.StatusCode.CANCELLED, "no such queue")
        stream = uuid.uuid4().hex[:8]
        self.log({"phase": "pull", "queue": first.queue.name,
                  "stream": stream})
        if first.acknowledgement_tokens:
            self.violation("acknowledgement tokens on the first request",
                           stream=stream)
        receipts = q.Queue()
        delivered = {}  # ident -> nid, on this stream
        inflight = set()
        nids = dict(self.items)

        def ack(t):
            """The receipt's status code for token t."""
            s, _, ident = t.partition(":")
            if s != stream:
                self.violation("ack on the wrong stream", token=t,
                               stream=stream)
                return 3
            if ident not in delivered:
                self.violation("ack of a token never delivered", token=t,
                               stream=stream)
                return 3
            with self.lock:
                if ident not in self.acked:
                    self.acked.add(ident)
                    self.append(self.acked_f, ident)
                    self.append(self.acks_f, {
                        "t": time.time(), "id": ident, "nid": nids[ident],
                        "stream": stream, "token": t})
                inflight.discard(ident)
                self.lock.notify_all()
            self.log({"phase": "ack", "token": t})
            return 0

        def read():
            try:
                for r in reqs:
                    if r.HasField("queue") and r.queue != first.queue:
                        self.violation("queue changed", stream=stream)
                    for t in r.acknowledgement_tokens:
                        receipts.put((t, ack(t)))
            except grpc.RpcError:
                pass
            receipts.put(None)
            with self.lock:
                self.lock.notify_all()

        threading.Thread(target=read, daemon=True).start()
        window = self.args.queue_window
        pace = self.args.queue_pace / 1000
        while ctx.is_active():
            while True:
                try:
                    item = receipts.get_nowait()
                except q.Empty:
                    break
                if item is None:
                    return
                r = nq.PullNotificationResponse()
                rc = r.acknowledgement_receipt.add(token=item[0])
                rc.status.code = item[1]
                if item[1]:
                    rc.status.message = "not a token of this stream"
                yield r
            nxt = None
            with self.lock:
                due = time.time() - self.t0
                if not window or len(inflight) < window:
                    for k, (ident, nid) in enumerate(self.items):
                        if k * pace > due:
                            break
                        if ident not in self.acked and ident not in delivered:
                            nxt = ident, nid
                            break
                if nxt is None:
                    self.lock.wait(0.05)
                    continue
                delivered[nxt[0]] = nxt[1]
                inflight.add(nxt[0])
                self.append(self.deliv_f, {"t": time.time(), "id": nxt[0],
                                           "nid": nxt[1], "stream": stream})
            n, _ = notification(self.kind.get(nxt[0], "invocation-finished"),
                                nxt[0], nxt[1])
            yield nq.PullNotificationResponse(
                notification=nq.PullNotificationResponse.AcknowledgeableNotification(
                    token="%s:%s" % (stream, nxt[0]), notification=n))


def serve(args):
    global grpc
    import grpc
    load(args.pyout)
    store = Store(args)
    handlers = {
        "GetInvocation": grpc.unary_stream_rpc_method_handler(
            lambda req, ctx: store.stream("invocation", req, ctx),
            request_deserializer=pb.GetInvocationRequest.FromString,
            response_serializer=pb.StreamedBuildEvent.SerializeToString),
        "GetBuild": grpc.unary_stream_rpc_method_handler(
            lambda req, ctx: store.stream("build", req, ctx),
            request_deserializer=pb.GetBuildRequest.FromString,
            response_serializer=pb.StreamedBuildEvent.SerializeToString),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers),
                         options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, handlers),))
    if args.queue:
        queue = (StrictQueue if args.queue_state else Queue)(args, store.log)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "engflow.notification.v1.NotificationQueue", {
                "Pull": grpc.stream_stream_rpc_method_handler(
                    queue.pull,
                    request_deserializer=nq.PullNotificationRequest.FromString,
                    response_serializer=nq.PullNotificationResponse.SerializeToString),
            }),))
    addr = "127.0.0.1:%d" % args.port
    if args.tls:
        def read(path):
            with open(path, "rb") as f:
                return f.read()

        creds = grpc.ssl_server_credentials(
            [(read(args.tls[1]), read(args.tls[0]))],
            root_certificates=read(args.client_ca) if args.client_ca else None,
            require_client_auth=bool(args.client_ca))
        port = server.add_secure_port(addr, creds)
    else:
        port = server.add_insecure_port(addr)
    if not port:
        sys.exit("eventstore.py: cannot bind %s" % addr)
    server.start()
    print("port %d" % port, flush=True)
    done = threading.Event()

    def stop(signo, frame):
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    done.wait()
    server.stop(1).wait()


def split_id(spec):
    ident, _, nid = spec.partition(":")
    return ident, nid or "n-" + ident


def delimited(out, msg):
    from google.protobuf.internal import encoder
    body = msg.SerializeToString(deterministic=True)
    out.write(encoder._VarintBytes(len(body)) + body)


def notification(kind, ident, nid, instance=""):
    """The Notification (and its payload) the queue delivers for ident."""
    p = nf.BuildLifecycleEventNotification(instance_name=instance)
    if kind.startswith("build"):
        p.build_id = ident
    else:
        p.build_id = "b-" + ident
    if kind == "invocation-finished":
        p.invocation_finished.invocation_id = ident
    elif kind == "invocation-started":
        p.invocation_started.invocation_id = ident
    elif kind == "build-started":
        p.build_started.SetInParent()
    else:
        p.build_finished.SetInParent()
    n = ntf.Notification(id=nid)
    n.timestamp.seconds = EPOCH
    n.payload.Pack(p)
    return n, p


def notification_event(args, spec):
    """The CloudEvent notify writes for spec (ID or ID:NOTIFICATION_ID)."""
    ident, nid = split_id(spec)
    n, p = notification(args.kind, ident, nid, args.instance)
    kind = "".join(w.capitalize() for w in args.kind.split("-"))
    ev = ce.CloudEvent(
        id=nid, source="grpc://queue.example/eventstore/lifecycle-events",
        spec_version="1.0",
        type="engflow.eventstore.v1.BuildLifecycleEventNotification." + kind)
    ev.attributes["time"].ce_timestamp.seconds = EPOCH
    ev.attributes["subject"].ce_string = p.build_id if args.kind.startswith("build") else ident
    ev.attributes["engflowbuildid"].ce_string = p.build_id
    if args.instance:
        ev.attributes["engflowinstance"].ce_string = args.instance
    if args.ack:
        ev.attributes["evpipeack"].ce_string = "ack-" + nid
    ev.proto_data.Pack(p if args.direct else n)
    return ev


def notify(args):
    load(args.pyout)
    out = sys.stdout.buffer
    for spec in args.ids:
        delimited(out, notification_event(args, spec))


def check(args):
    from google.protobuf.internal import decoder
    load(args.pyout)
    n_of = counts(args)
    data = sys.stdin.buffer.read()
    evs, raw = [], []
    pos = 0
    while pos < len(data):
        size, pos = decoder._DecodeVarint(data, pos)
        ev = ce.CloudEvent()
        ev.ParseFromString(data[pos:pos + size])
        raw.append(data[pos:pos + size])
        pos += size
        evs.append(ev)
    k = 0
    passed = 0
    total = 0

    def subject(ev):
        return ev.attributes["subject"].ce_string if "subject" in ev.attributes else None

    def fail(msg):
        print("record %d: %s" % (k + 1, msg))
        sys.exit(1)

    complete = 0
    for spec in args.ids:
        ident, nid = split_id(spec)
        kind = "build" if args.builds else "invocation"
        n = n_of(ident)
        ack = "ack-" + nid if args.ack else nid
        if args.notifications:
            # ahead of the events: the notification as notify wrote it,
            # byte for byte, less its evpipeack
            want = notification_event(args, spec)
            if "evpipeack" in want.attributes:
                del want.attributes["evpipeack"]
            want = want.SerializeToString(deterministic=True)
            while k < len(evs) and raw[k] != want and passed < args.passthrough:
                passed += 1
                k += 1
            if k >= len(evs) and args.prefix:
                break
            if k >= len(evs) or raw[k] != want:
                fail("not the notification of %s (less evpipeack)" % ident)
            k += 1
        else:
            while k < len(evs) and subject(evs[k]) != ident and passed < args.passthrough:
                passed += 1
                k += 1
        for i in range(n):
            if k >= len(evs) and args.prefix:
                break
            if k >= len(evs):
                fail("missing: %s event %d of %d" % (ident, i + 1, n))
            ev = evs[k]
            want = event(kind, ident, i, n, args.payload_size)
            if subject(ev) != ident:
                fail("subject %r, want %r (event %d of %d)" % (subject(ev), ident, i + 1, n))
            seq = ev.attributes["sequence"].ce_string
            if seq != "%020d" % (i + 1):
                fail("%s: sequence %r, want %d" % (ident, seq, i + 1))
            if ev.type != "engflow.eventstore.v1.BuildProgressEvent":
                fail("type %r" % ev.type)
            if ev.proto_data.type_url != "type.googleapis.com/engflow.eventstore.v1.BuildProgressEvent":
                fail("type URL %r" % ev.proto_data.type_url)
            if ev.proto_data.value != want.SerializeToString():
                got = bev.BuildProgressEvent.FromString(ev.proto_data.value)
                fail("%s event %d differs:\n got %s\nwant %s" % (ident, i + 1, got, want))
            if ev.id != "%s/%d" % (ident, i + 1):
                fail("id %r" % ev.id)
            has = "evpipeack" in ev.attributes
            if i < n - 1 and has:
                fail("%s: evpipeack on event %d of %d" % (ident, i + 1, n))
            if i == n - 1 and (not has or ev.attributes["evpipeack"].ce_string != ack):
                fail("%s: last event has evpipeack %r, want %r" % (
                    ident, ev.attributes["evpipeack"].ce_string if has else None, ack))
            k += 1
            total += 1
        else:
            complete += 1
            continue
        break
    while k < len(evs) and passed < args.passthrough:
        passed += 1
        k += 1
    if k != len(evs):
        fail("%d records more than expected" % (len(evs) - k))
    if args.prefix:
        print("ok %d events, %d complete" % (total, complete))
    else:
        print("ok %d events" % total)


def main():
    ap = argparse.ArgumentParser(description="fake EngFlow event store",
                                 fromfile_prefix_chars="@")
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--pyout")
    common.add_argument("--events", type=int, default=1000)
    common.add_argument("--events-for", action="append", default=[])
    common.add_argument("--payload-size", type=int, default=0)
    s = sub.add_parser("serve", parents=[common])
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--log")
    s.add_argument("--token")
    s.add_argument("--bearer")
    s.add_argument("--not-found", action="append", default=[])
    s.add_argument("--deny", action="append", default=[])
    s.add_argument("--fail", action="append", default=[])
    s.add_argument("--cut", type=float, default=0)
    s.add_argument("--cut-codes", default="UNAVAILABLE")
    s.add_argument("--seed", default="0")
    s.add_argument("--salt", help="12 hex digits: tokens that outlive a restart")
    s.add_argument("--tokenless", type=float, default=0)
    s.add_argument("--cut-at", action="append", default=[])
    s.add_argument("--hang", action="append", default=[])
    s.add_argument("--known", action="append", default=[])
    s.add_argument("--live-ms", type=float, default=1)
    s.add_argument("--workers", type=int, default=128)
    s.add_argument("--queue", action="append", default=[])
    s.add_argument("--queue-name", default="eventstore/lifecycle-events")
    s.add_argument("--queue-state", metavar="DIR")
    s.add_argument("--queue-kind", action="append", default=[])
    s.add_argument("--queue-window", type=int, default=0)
    s.add_argument("--queue-pace", type=float, default=0, metavar="MS")
    s.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    s.add_argument("--client-ca", metavar="CA")
    notes = argparse.ArgumentParser(add_help=False)
    notes.add_argument("--kind", default="invocation-finished",
                       choices=["invocation-finished", "invocation-started",
                                "build-started", "build-finished"])
    notes.add_argument("--instance", default="")
    notes.add_argument("--direct", action="store_true")
    notes.add_argument("--ack", "--ack-values", action="store_true")
    n = sub.add_parser("notify", parents=[common, notes])
    n.add_argument("ids", nargs="+")
    c = sub.add_parser("check", parents=[common, notes])
    c.add_argument("--builds", action="store_true")
    c.add_argument("--passthrough", type=int, default=0)
    c.add_argument("--notifications", action="store_true")
    c.add_argument("--prefix", action="store_true")
    c.add_argument("ids", nargs="+")
    args = ap.parse_args()
    if args.cmd == "serve" and args.client_ca and not args.tls:
        ap.error("--client-ca needs --tls")
    if args.cmd == "serve" and not args.queue_state and (
            args.queue_kind or args.queue_window or args.queue_pace):
        ap.error("--queue-kind, --queue-window and --queue-pace need --queue-state")
    {"serve": serve, "notify": notify, "check": check}[args.cmd](args)


if __name__ == "__main__":
    main()
