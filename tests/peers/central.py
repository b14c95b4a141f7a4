#!/usr/bin/python3
"""A fake Axway Central resource API for resolve's tests, on python's
http.server (none of evpipe's code), and the watch events that point at
it, as subscribe writes them.

  central.py serve [options]          prints "port N", serves until SIGTERM
  central.py notify [options] SPEC... delimited CloudEvents on stdout

serve: GET /apis/<self link> answers the resource as JSON:
  {"group": "management", "kind": <the path's second-to-last segment>,
   "name": <its last segment>, "metadata": {"selfLink": <self link>},
   "spec": {"revision": <how many GETs of it so far>}}
  --token T     require "Authorization: Bearer T", else 401
  --jwt         require "Authorization: Bearer <JWT>" whose exp (RFC 7519
                4.1.4) is still ahead, else 401 (logged "expired": true)
  --tenant ID   require "X-Axway-Tenant-Id: ID", else 403
  --missing LINK        404 for that self link
  --fail LINK=N:CODE    the first N GETs of LINK answer CODE (e.g. 503)
  --log FILE    a JSON line per request: path, status, and the
                authorization and x-axway-tenant-id headers
  Only 127.0.0.1.

notify: SPEC is TYPE:LINK[:ID] with TYPE one of CREATED, UPDATED,
  DELETED, SUBRESOURCEUPDATED; ID defaults to e1, e2, ...  Each becomes
  a CloudEvent as subscribe writes it (id = the event id, type
  central.events.v1.Event.TYPE, subject = the self link, sequence,
  axwaykind, proto_data = the central.events.v1.Event), with --ack an
  evpipeack of "ack-" + the id.  --pyout DIR: where the Python modules are compiled."""
import argparse
import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "..", "proto")


def load(pyout):
    pyout = pyout or os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                  "evpipe-central-py")
    stamp = os.path.join(pyout, "central.stamp")
    if not os.path.exists(stamp):
        os.makedirs(pyout, exist_ok=True)
        subprocess.run(["protoc", "-I" + PROTO, "--python_out=" + pyout] +
                       [os.path.join(PROTO, f) for f in
                        ("cloudevent.proto", "watch.proto", "apicentral.proto")],
                       check=True)
        with open(stamp, "w"):
            pass
    sys.path.insert(0, pyout)
    global watch, ce
    import watch_pb2 as watch
    import cloudevent_pb2 as ce


def jwt_live(auth):
    """'Bearer <JWT>' with an exp that has not come yet."""
    if not auth or not auth.startswith("Bearer "):
        return False
    try:
        part = auth[7:].split(".")[1]
        part += "=" * (-len(part) % 4)
        exp = json.loads(base64.urlsafe_b64decode(part))["exp"]
    except (IndexError, ValueError, KeyError, TypeError):
        return False
    return isinstance(exp, (int, float)) and time.time() < exp


def serve(args):
    fails = {}
    for spec in args.fail:
        link, _, rest = spec.partition("=")
        n, _, code = rest.partition(":")
        fails[link] = [int(n), int(code)]
    gets = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def answer(self, status, body, **extra):
            # Logged first: the client may be gone once it has the answer.
            if args.log:
                rec = {"path": self.path, "status": status, **extra,
                       "authorization": self.headers.get("Authorization"),
                       "tenant": self.headers.get("X-Axway-Tenant-Id")}
                with lock, open(args.log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(rec, sort_keys=True) + "\n")
            data = json.dumps(body, sort_keys=True).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if not self.path.startswith("/apis/"):
                return self.answer(404, {"error": "no such API"})
            link = self.path[len("/apis"):]
            if args.token and self.headers.get("Authorization") != "Bearer " + args.token:
                return self.answer(401, {"error": "unauthorized"})
            if args.jwt and not jwt_live(self.headers.get("Authorization")):
                return self.answer(401, {"error": "token expired"},
                                   expired=True)
            if args.tenant and self.headers.get("X-Axway-Tenant-Id") != args.tenant:
                return self.answer(403, {"error": "wrong tenant"})
            with lock:
                gets[link] = gets.get(link, 0) + 1
                n = gets[link]
                f = fails.get(link)
                failing = f is not None and f[0] > 0
                if failing:
                    f[0] -= 1
            if failing:
                return self.answer(f[1], {"error": "failing on purpose"})
            if link in args.missing:
                return self.answer(404, {"error": "not found"})
            parts = link.strip("/").split("/")
            self.answer(200, {
                "group": "management",
                "kind": parts[-2] if len(parts) > 1 else "",
                "name": parts[-1],
                "metadata": {"selfLink": link},
                "spec": {"revision": n},
            })

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("port %d" % server.server_address[1], flush=True)
    signal.signal(signal.SIGTERM, lambda s, f: threading.Thread(
        target=server.shutdown).start())
    server.serve_forever()


def notify(args):
    from google.protobuf.internal import encoder
    load(args.pyout)
    out = sys.stdout.buffer
    for i, spec in enumerate(args.specs, 1):
        parts = spec.split(":")
        kind, link = parts[0], parts[1]
        ident = parts[2] if len(parts) > 2 else "e%d" % i
        e = watch.Event(id=ident, time="2024-01-02T03:04:05Z", version="v1",
                        product="AmplifyCentral",
                        type=getattr(watch.Event, kind))
        e.organization.id = "org1"
        e.payload.group = "management"
        segs = link.strip("/").split("/")
        e.payload.kind = segs[-2] if len(segs) > 1 else ""
        e.payload.name = segs[-1]
        e.payload.metadata.id = "id-" + ident
        e.payload.metadata.selfLink = link
        e.metadata.watchTopicSelfLink = "/management/v1alpha1/watchtopics/t1"
        e.metadata.sequenceID = i
        ev = ce.CloudEvent(id=ident, source="grpcs://central.example/watch",
                           spec_version="1.0",
                           type="central.events.v1.Event." + kind)
        ev.attributes["time"].ce_timestamp.seconds = 1704164645
        ev.attributes["subject"].ce_string = link
        ev.attributes["sequence"].ce_string = str(i)
        ev.attributes["axwaykind"].ce_string = e.payload.kind
        if args.ack:
            ev.attributes["evpipeack"].ce_string = "ack-" + ident
        ev.proto_data.Pack(e)
        body = ev.SerializeToString(deterministic=True)
        out.write(encoder._VarintBytes(len(body)) + body)


def main():
    ap = argparse.ArgumentParser(description="fake Axway Central")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--token")
    s.add_argument("--jwt", action="store_true")
    s.add_argument("--tenant")
    s.add_argument("--missing", action="append", default=[])
    s.add_argument("--fail", action="append", default=[])
    s.add_argument("--log")
    n = sub.add_parser("notify")
    n.add_argument("--pyout")
    n.add_argument("--ack", action="store_true")
    n.add_argument("specs", nargs="+")
    args = ap.parse_args()
    {"serve": serve, "notify": notify}[args.cmd](args)


if __name__ == "__main__":
    main()
