#!/usr/bin/python3
"""A fake Axway Amplify Central: the watch service
(/central.events.v1.watch/subscribe on grpcio) and the harvester REST
API (python's http.server), sharing one history of events, for
tests/subscribe.bats.

Events have sequence ids 1..--events.  Ids 1..--history are committed
before anything starts; the harvester serves committed events.  When a
subscription arrives, --gap more are committed but never sent live (the
window between catch-up and subscribing, axway.md 3.3), and the live
stream starts --overlap ids before the first of those it does send
(events the client already has).  Live events are committed as they
are sent, --delay-ms apart; or, with --rate R, a producer commits R
events a second from the start, whoever listens, and every stream sends
each event committed after its subscription (a busy topic: the
harvester never runs dry while the stream is down).

The watch side checks what axway.md 2 says a client sends: metadata
"authorization: Bearer <jwt>" and x-axway-tenant-id; a first request of
topic self link, "Bearer <jwt>" and capabilities ["ping"] without
requestType (checked on the wire); PING_RESPONSE with the ping's id and
nothing else; token refreshes (selfLink and token only) before the last
token's exp.  A token on the stream that reaches its exp (RFC 7519 4.1.4:
it must be used before then) ends the stream UNAUTHENTICATED, an
unanswered ping (--ping-every, --ping-timeout) UNAVAILABLE.  Each problem
is a {"violation": ...} line in --log.  --stall S: each call is accepted
and left silent for S seconds (no headers, no message), then ended
UNAVAILABLE.  --watch-fail CODE: each call is ended at once with that
gRPC status code.

The harvester answers GET /events<topic>?page=&pageSize=&query=
sequenceID>N&sort=sequenceID,ASC with a JSON array (axway.md 3.2), 410
with X-Axway-Max-Sequence-Id when N is below --purged, --harvest-code
(503 by default) for the first --harvest-fail requests, 401 for a token
that has expired.  --harvest-delay-ms: each answer takes that long.

Prints "port N" (gRPC) and "http M" once both listen (--port and
--http-port choose them; 0, the default, a free one).

--state FILE keeps the highest committed sequence id in FILE (replaced
atomically at each commit), so that a server killed and started again
with the same FILE goes on with the same history, as Central does.
"""
import argparse
import base64
import http.server
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from concurrent import futures

import grpc

ap = argparse.ArgumentParser()
ap.add_argument("--pyout", required=True)
ap.add_argument("--log")
ap.add_argument("--topic", default="/management/v1alpha1/watchtopics/t1")
ap.add_argument("--tenant", default="org1")
ap.add_argument("--events", type=int, default=20)
ap.add_argument("--history", type=int, default=0)
ap.add_argument("--gap", type=int, default=0)
ap.add_argument("--overlap", type=int, default=0)
ap.add_argument("--delay-ms", type=float, default=0)
ap.add_argument("--ping-every", type=float, default=0)
ap.add_argument("--ping-timeout", type=float, default=2)
ap.add_argument("--purged", type=int, default=0)
ap.add_argument("--harvest-fail", type=int, default=0)
ap.add_argument("--harvest-code", type=int, default=503)
ap.add_argument("--harvest-delay-ms", type=float, default=0)
ap.add_argument("--rate", type=float, default=0,
                help="a producer commits this many events a second")
ap.add_argument("--stall", type=float, default=0)
ap.add_argument("--watch-fail", type=int, default=0)
ap.add_argument("--end-after", type=int, default=0,
                help="end each stream UNAVAILABLE after N live events")
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--http-port", type=int, default=0)
ap.add_argument("--state", metavar="FILE")
args = ap.parse_args()

sys.path.insert(0, args.pyout)
import watch_pb2 as w  # noqa

lock = threading.Lock()
produced = threading.Condition(lock)
committed = args.history
if args.state and os.path.exists(args.state):
    with open(args.state) as f:
        committed = max(committed, int(f.read()))
saved = committed


def save():
    """Keep committed in --state (called with lock held)."""
    global saved
    if not args.state or committed == saved:
        return
    with open(args.state + ".tmp", "w") as f:
        f.write("%d\n" % committed)
    os.replace(args.state + ".tmp", args.state)
    saved = committed
harvest_requests = 0
log_file = open(args.log, "a") if args.log else None
TYPES = ["CREATED", "UPDATED", "DELETED", "SUBRESOURCEUPDATED"]
REST_TYPES = ["ResourceCreated", "ResourceUpdated", "ResourceDeleted",
              "SubResourceUpdated"]


def log(**kw):
    """A JSON line; bytes (a -bin metadata value) in hex."""
    if log_file:
        with lock:
            log_file.write(json.dumps(kw, sort_keys=True,
                                      default=lambda b: b.hex()) + "\n")
            log_file.flush()


def jwt_exp(tok):
    try:
        part = tok.split(".")[1]
        part += "=" * (-len(part) % 4)
        return json.loads(base64.urlsafe_b64decode(part))["exp"]
    except Exception:
        return None


def token_ok(bearer):
    """'Bearer <jwt>' with an exp in the future."""
    if not bearer or not bearer.startswith("Bearer "):
        return None
    exp = jwt_exp(bearer[7:])
    if exp is None or exp <= time.time():
        return None
    return exp


def producer():
    """--rate: commit events at a steady rate, listened to or not."""
    global committed
    start = time.time()
    base = committed
    while True:
        with produced:
            if committed >= args.events:
                return
            due = base + int((time.time() - start) * args.rate)
            if due > committed:
                committed = min(args.events, due)
                save()
                produced.notify_all()
        time.sleep(0.005)


def event_time(seq):
    return "2021-11-30 11:%02d:%02d.%02d" % (seq // 60 % 60, seq % 60,
                                             seq % 100)


def event_json(seq):
    name = "api-%d" % seq
    link = "/management/v1alpha1/environments/env1/apiservices/%s" % name
    return {
        "id": "ev-%d" % seq,
        "time": event_time(seq),
        "version": "v1",
        "product": "AmplifyCentral",
        "correlationId": "corr-%d" % seq,
        "organization": {"id": args.tenant},
        "type": REST_TYPES[seq % 4],
        "payload": {
            "group": "management",
            "kind": "APIService",
            "name": name,
            "metadata": {
                "id": "res-%d" % seq,
                "scope": {"id": "env-id", "kind": "Environment",
                          "name": "env1",
                          "selfLink": "/management/v1alpha1/environments/"
                                      "env1"},
                "selfLink": link,
                "references": [{"id": "r1", "kind": "Secret", "name": "s",
                                "scopeKind": "Environment",
                                "scopeName": "env1",
                                "selfLink": "/x/s", "type": "SOFT"}],
            },
            "attributes": {"k%d" % seq: "v"},
        },
        "metadata": {
            "watchTopicID": "wt-1",
            "watchTopicSelfLink": args.topic,
            "sequenceID": seq,
            "subresource": "status" if seq % 4 == 3 else "",
        },
    }


def event_pb(seq):
    j = event_json(seq)
    e = w.Event(id=j["id"], time=j["time"], version=j["version"],
                product=j["product"], correlationId=j["correlationId"])
    e.organization.id = args.tenant
    e.type = seq % 4
    p = j["payload"]
    e.payload.group, e.payload.kind, e.payload.name = (
        p["group"], p["kind"], p["name"])
    m = p["metadata"]
    e.payload.metadata.id = m["id"]
    sc = m["scope"]
    e.payload.metadata.scope.id = sc["id"]
    e.payload.metadata.scope.kind = sc["kind"]
    e.payload.metadata.scope.name = sc["name"]
    e.payload.metadata.scope.selfLink = sc["selfLink"]
    e.payload.metadata.selfLink = m["selfLink"]
    for r in m["references"]:
        e.payload.metadata.references.add(
            id=r["id"], kind=r["kind"], name=r["name"],
            scopeKind=r["scopeKind"], scopeName=r["scopeName"],
            selfLink=r["selfLink"], type=0)
    for k, v in p["attributes"].items():
        e.payload.attributes[k] = v
    md = j["metadata"]
    e.metadata.watchTopicID = md["watchTopicID"]
    e.metadata.watchTopicSelfLink = md["watchTopicSelfLink"]
    e.metadata.sequenceID = seq
    e.metadata.subresource = md["subresource"]
    return e


def top_fields(b):
    """The top-level field numbers of a protobuf message."""
    out, p = [], 0
    while p < len(b):
        key, p = varint(b, p)
        out.append(key >> 3)
        wt = key & 7
        if wt == 0:
            _, p = varint(b, p)
        elif wt == 2:
            n, p = varint(b, p)
            p += n
        else:
            p += 8 if wt == 1 else 4
    return out


def varint(b, p):
    n = shift = 0
    while True:
        n |= (b[p] & 0x7F) << shift
        shift += 7
        p += 1
        if not b[p - 1] & 0x80:
            return n, p


def subscribe(request_iterator, context):
    global committed
    md = dict(context.invocation_metadata())
    if args.stall:
        log(stalled=args.stall)
        time.sleep(args.stall)
        context.abort(grpc.StatusCode.UNAVAILABLE, "stalled")
    if args.watch_fail:
        code = [c for c in grpc.StatusCode if c.value[0] == args.watch_fail][0]
        log(watch_fail=args.watch_fail)
        context.abort(code, "failing on purpose")
    exp = token_ok(md.get("authorization"))
    if exp is None:
        log(refused="metadata token", metadata=md)
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad token")
    if md.get("x-axway-tenant-id") != args.tenant:
        log(violation="tenant header", metadata=md)
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "wrong tenant")
    state = {"exp": exp, "pings": {}, "first": None, "err": None}
    cond = threading.Condition()

    def bad(msg, code=grpc.StatusCode.INVALID_ARGUMENT, violation=True):
        if violation:
            log(violation=msg)
        with cond:
            state["err"] = (code, msg)
            cond.notify_all()

    def reader():
        try:
            for raw in request_iterator:
                r = w.Request.FromString(raw)
                fields = top_fields(raw)
                if state["first"] is None:
                    if 3 in fields or r.selfLink != args.topic or \
                            list(r.capabilities) != ["ping"]:
                        bad("first request: %r" % r)
                        return
                    exp = token_ok(r.token)
                    if exp is None:
                        bad("first request token",
                            grpc.StatusCode.UNAUTHENTICATED, False)
                        return
                    with cond:
                        state["first"] = r
                        state["exp"] = exp
                        cond.notify_all()
                    log(subscribed=args.topic, exp=exp,
                        user_agent=md.get("user-agent"),
                        extra={k: v for k, v in md.items()
                               if k.startswith("x-") and
                               k != "x-axway-tenant-id"})
                elif r.requestType == 2:
                    if fields != [3, 6]:
                        bad("ping response fields %r" % fields)
                        return
                    with cond:
                        state["pings"].pop(r.pingResponse.id, None)
                    log(pong=r.pingResponse.id)
                elif 3 not in fields and r.token:
                    exp = token_ok(r.token)
                    if (exp is None or r.selfLink != args.topic or
                            r.capabilities):
                        bad("token refresh: %r" % r)
                        return
                    with cond:
                        state["exp"] = exp
                    log(refresh=exp)
                else:
                    bad("unexpected request %r" % r)
                    return
        except grpc.RpcError:
            pass
        finally:
            with cond:
                if state["err"] is None:
                    state["err"] = (None, "client went away")
                cond.notify_all()

    threading.Thread(target=reader, daemon=True).start()
    with cond:
        while state["first"] is None and state["err"] is None:
            cond.wait(1)
    if state["err"] is not None:
        if state["err"][0] is not None:
            context.abort(*state["err"])
        return
    with lock:
        first = committed + 1
        if args.rate:
            # the next --gap events are never sent live
            nxt = max(1, committed + args.gap + 1 - args.overlap)
        else:
            committed = min(args.events, committed + args.gap)
            nxt = max(1, committed + 1 - args.overlap)
        save()
    log(live_from=nxt, gap_from=first, committed=committed)
    sent = 0
    next_ping = time.time() + args.ping_every if args.ping_every else None
    ping_no = 0
    while context.is_active():
        now = time.time()
        with cond:
            err = state["err"]
            if err is None and now >= state["exp"]:
                err = (grpc.StatusCode.UNAUTHENTICATED, "token expired")
                log(violation="token expired in the stream",
                    unauthenticated=state["exp"])
            late = [p for p, t in state["pings"].items()
                    if now - t > args.ping_timeout]
        if err is None and late:
            log(violation="ping not answered: %s" % late[0])
            err = (grpc.StatusCode.UNAVAILABLE, "ping not answered")
        if err is not None:
            if err[0] is not None:
                context.abort(*err)
            return
        if next_ping is not None and now >= next_ping:
            ping_no += 1
            pid = "ping-%d" % ping_no
            with cond:
                state["pings"][pid] = now
            yield w.Event(id=pid, type=5)
            log(ping=pid)
            next_ping = now + args.ping_every
        if args.rate:
            with produced:
                ready = nxt <= committed
                if not ready and nxt <= args.events:
                    produced.wait(0.05)
            if not ready:
                if nxt > args.events:
                    time.sleep(0.05)
                continue
            yield event_pb(nxt)
            nxt += 1
            sent += 1
            if args.end_after and sent >= args.end_after:
                log(ended=sent)
                context.abort(grpc.StatusCode.UNAVAILABLE, "stream ended")
        elif nxt <= args.events:
            e = event_pb(nxt)
            with lock:
                committed = max(committed, nxt)
                save()
            yield e
            nxt += 1
            sent += 1
            if args.end_after and sent >= args.end_after:
                log(ended=sent)
                context.abort(grpc.StatusCode.UNAVAILABLE, "stream ended")
            if args.delay_ms:
                time.sleep(args.delay_ms / 1000)
        else:
            time.sleep(0.05)


class Harvester(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        global harvest_requests
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        with lock:
            harvest_requests += 1
            n = harvest_requests
        if args.harvest_delay_ms:
            time.sleep(args.harvest_delay_ms / 1000)
        # the request line of a proxy that was not asked to tunnel
        # (absolute-form) never gets here: CONNECT keeps the path
        log(harvest=self.path,
            extra={k.lower(): v for k, v in self.headers.items()
                   if k.lower().startswith("x-") and
                   k.lower() != "x-axway-tenant-id"})
        if u.path != "/events" + args.topic:
            return self.reply(404)
        if token_ok(self.headers.get("Authorization")) is None:
            log(refused="harvester token",
                violation="harvester token expired")
            return self.reply(401)
        if self.headers.get("X-Axway-Tenant-Id") != args.tenant:
            log(violation="harvester tenant")
            return self.reply(403)
        if n <= args.harvest_fail:
            return self.reply(args.harvest_code)
        try:
            page = int(q["page"])
            size = int(q["pageSize"])
            assert q["sort"] == "sequenceID,ASC"
            assert q["query"].startswith("sequenceID>")
            after = int(q["query"][len("sequenceID>"):])
        except (KeyError, ValueError, AssertionError):
            log(violation="harvester query %s" % u.query)
            return self.reply(400)
        if after < args.purged:
            if page == 1:
                return self.reply(410, headers=[
                    ("X-Axway-Max-Sequence-Id", str(args.purged))])
            log(violation="410 case on page %d" % page)
        with lock:
            top = committed
        ids = list(range(max(after, args.purged) + 1, top + 1))
        chunk = ids[(page - 1) * size:page * size]
        body = json.dumps([event_json(s) for s in chunk]).encode()
        self.reply(200, body, [("Content-Type", "application/json")])


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "central.events.v1.watch",
        {"subscribe": grpc.stream_stream_rpc_method_handler(
            subscribe,
            response_serializer=w.Event.SerializeToString)}),))
    port = server.add_insecure_port("127.0.0.1:%d" % args.port)
    if not port:
        sys.exit("fake_watch.py: cannot bind port %d" % args.port)
    server.start()
    if args.rate:
        threading.Thread(target=producer, daemon=True).start()
    hs = http.server.ThreadingHTTPServer(("127.0.0.1", args.http_port),
                                         Harvester)
    threading.Thread(target=hs.serve_forever, daemon=True).start()
    print("port %d" % port, flush=True)
    print("http %d" % hs.server_address[1], flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    while not stop.wait(0.2):
        pass
    # a stream handler or a shutdown that hangs must not keep the
    # test waiting for this process: at most 3 s to stop
    watchdog = threading.Timer(3, lambda: os._exit(0))
    watchdog.daemon = True
    watchdog.start()
    hs.shutdown()
    server.stop(1).wait()


main()
