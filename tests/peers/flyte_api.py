#!/usr/bin/python3
"""A fake Flyte API server (the pack-facing routes of ExpediaGroup/flyte,
as shared/reference/flyte.md describes them), with hooks for tests.

  flyte_api.py [--port N] [--host 127.0.0.1] [--jwt TOKEN] [--location-only]
               [--no-health-link] [--tls CERT KEY] [--log FILE]
               [--state FILE]

With --tls, HTTPS with that certificate.  With --state FILE, the packs, the
results and the events it accepted are kept in FILE (JSON lines: {"t",
"pack": ID, "body"}, {"t", "delete": ID}, {"t", "result": {...}}, {"t",
"event": {...}}, "t" being time.time(), each line flushed before the
answer) and read back at start: a server killed and started again with
the same FILE has them all, as Flyte's database does.  Prints "port N"
once listening (port 0: a free one), then serves until SIGTERM or
SIGINT.  Python's http.server, one thread per connection,
HTTP/1.1 with keep-alive.

Flyte routes (hrefs absolute, built from the Host header, as the real
server does):
  GET  /v1                                 links (rel suffixes pack/listPacks,
                                           info/health, ...)
  GET  /health                             200, empty body
  POST /v1/packs                           register (upsert by id = name plus
                                           .key.value for sorted labels); 201,
                                           Location and the pack (only the
                                           Location with --location-only)
  GET  /v1/packs, GET|DELETE /v1/packs/ID
  POST /v1/packs/ID/actions/take           200 + the oldest NEW action for the
                                           pack's name whose labels are a subset
                                           of the pack's, or 204; 404 unknown
  POST /v1/packs/ID/actions/AID/result     202; 404 unknown pack or action,
                                           500 when the action is not PENDING
  POST /v1/packs/ID/events                 202; 404 unknown pack
With --jwt, every /v1 and /health request without "Authorization: Bearer
TOKEN" gets 401 and WWW-Authenticate.

Test hooks (never authenticated), JSON in and out:
  POST /_test/actions   {"pack": NAME, "command": C, "input": ANY,
                         "labels": {..}, "count": N} -> {"ids": [...]}
  GET  /_test/state     {"packs": {id: registration body}, "registrations": N,
                         "actions": [{id, command, input, state}],
                         "results": [{action, pack, command, event, payload,
                                      createdAt, latency_ms}],
                         "events": [{pack, event, payload, createdAt}],
                         "requests": [{method, path, authorization}]}
  GET  /_test/stats     {"results": N, "seconds": from the first take to the
                         last result, "latency_ms": {"p50", "p90", "p99",
                         "max"} from action creation to result}
  POST /_test/faults    merge into the fault table (counters count down):
      v1_status: HTTP status for GET /v1        register_status: for POST packs
      take_status: [status, times]              result_fail: [status, times]
      result_drop: times (close without answer) event_fail: [status, times]
      health_status: status for /health         take_delay_ms: ms before answering
      take_raw_b64: the next take answers 200 with these bytes (base64)
      down: true (every Flyte route answers 503)
  POST /_test/forget    forget every pack (as DELETE does)
  POST /_test/reset     forget everything, faults too
"""
import argparse
import base64
import json
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {}


def reset():
    STATE.clear()
    STATE.update(packs={}, registrations=0, actions=[], results=[],
                 events=[], requests=[], faults={})


reset()


JOURNAL = None


def journal(rec):
    """Append rec to --state (called with LOCK held)."""
    if JOURNAL is not None:
        JOURNAL.write(json.dumps(dict(rec, t=time.time())) + "\n")
        JOURNAL.flush()


def replay(path):
    """The state an earlier run kept in path."""
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # cut short by SIGKILL: never answered
            if "pack" in rec:
                STATE["packs"][rec["pack"]] = rec["body"]
                STATE["registrations"] += 1
            elif "delete" in rec:
                STATE["packs"].pop(rec["delete"], None)
            elif "result" in rec:
                STATE["results"].append(rec["result"])
            elif "event" in rec:
                STATE["events"].append(rec["event"])


def pack_id(body):
    labels = body.get("labels") or {}
    return body["name"] + "".join(
        ".%s.%s" % (k, labels[k]) for k in sorted(labels))


def fault_count(name):
    """A [status, times] fault: the status while times lasts, else None."""
    f = STATE["faults"].get(name)
    if not f or f[1] <= 0:
        return None
    f[1] -= 1
    return f[0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-flyte/1"

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this,
        # Nagle's algorithm and delayed ACKs add 40 ms to every answer.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if self.server.log:
            with open(self.server.log, "a") as f:
                f.write("%s %s\n" % (self.address_string(), fmt % args))

    def base(self):
        return "%s://%s" % ("https" if self.server.tls else "http",
                            self.headers.get("Host", "localhost"))

    def reply(self, status, body=None, headers=()):
        data = b"" if body is None else (
            body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def json_body(self):
        raw = self.body()
        try:
            return json.loads(raw) if raw else None, True
        except ValueError:
            return None, False

    # --- dispatch ------------------------------------------------------
    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        path = self.path.split("?")[0]
        if path.startswith("/_test/"):
            return self.test_hook(method, path)
        auth = self.headers.get("Authorization")
        with LOCK:
            STATE["requests"].append(
                {"method": method, "path": self.path, "authorization": auth})
            faults = dict(STATE["faults"])
        if faults.get("down"):
            self.body()
            return self.reply(503, {"error": "down"})
        if self.server.jwt and auth != "Bearer " + self.server.jwt:
            self.body()
            return self.reply(401, None, [("WWW-Authenticate",
                                           'Bearer realm="token"')])
        parts = [p for p in path.split("/") if p]
        H = self.base()
        if method == "GET" and parts == ["v1"]:
            return self.discovery(H, faults)
        if method == "GET" and parts == ["health"]:
            return self.reply(faults.get("health_status", 200))
        if parts[:2] != ["v1", "packs"]:
            return self.reply(404, {"error": "no route"})
        rest = parts[2:]
        if method == "POST" and not rest:
            return self.register(H, faults)
        if method == "GET" and not rest:
            with LOCK:
                return self.reply(200, [self.view(H, i, p) for i, p in
                                        STATE["packs"].items()])
        pid = rest[0] if rest else None
        with LOCK:
            known = pid in STATE["packs"]
        if method == "GET" and len(rest) == 1:
            with LOCK:
                if not known:
                    return self.reply(404, {"error": "pack not found"})
                return self.reply(200, self.view(H, pid, STATE["packs"][pid]))
        if method == "DELETE" and len(rest) == 1:
            with LOCK:
                found = STATE["packs"].pop(pid, None) is not None
            if found:
                journal({"delete": pid})
            return self.reply(204 if found else 404)
        if method == "POST" and rest[1:] == ["actions", "take"]:
            self.body()
            if faults.get("take_delay_ms"):
                time.sleep(faults["take_delay_ms"] / 1000)
            return self.take(H, pid, known)
        if method == "POST" and len(rest) == 4 and rest[1] == "actions" \
                and rest[3] == "result":
            return self.result(pid, known, rest[2])
        if method == "POST" and rest[1:] == ["events"]:
            return self.event(pid, known)
        self.body()
        return self.reply(404, {"error": "no route"})

    # --- Flyte ---------------------------------------------------------
    def discovery(self, H, faults):
        if "v1_status" in faults:
            return self.reply(faults["v1_status"], {})
        links = [
            {"href": H + "/v1", "rel": "self"},
            {"href": H + "/", "rel": "up"},
            {"href": H + "/swagger#!/info/v1", "rel": "help"},
            {"href": H + "/v1/packs", "rel": H + "/swagger#!/pack/listPacks"},
            {"href": H + "/v1/flows", "rel": H + "/swagger#!/flow/listFlows"},
            {"href": H + "/v1/swagger", "rel": H + "/swagger"},
        ]
        if not self.server.no_health_link:
            links.insert(3, {"href": H + "/health",
                             "rel": H + "/swagger#!/info/health"})
        self.reply(200, {"links": links})

    def view(self, H, pid, pack):
        v = dict(pack)
        v["id"] = pid
        v["lastSeen"] = "2026-01-01T00:00:00Z"
        v["status"] = "live"
        cmds = []
        for c in pack.get("commands") or []:
            c = dict(c)
            c["links"] = [{"href": "%s/v1/packs/%s/actions/take?commandName=%s"
                           % (H, pid, c["name"]),
                           "rel": H + "/swagger#!/action/takeAction"}]
            cmds.append(c)
        if cmds:
            v["commands"] = cmds
        v["links"] = list(pack.get("links") or []) + [
            {"href": "%s/v1/packs/%s" % (H, pid), "rel": "self"},
            {"href": H + "/v1/packs", "rel": "up"},
            {"href": "%s/v1/packs/%s/actions/take" % (H, pid),
             "rel": H + "/swagger#!/action/takeAction"},
            {"href": "%s/v1/packs/%s/events" % (H, pid),
             "rel": H + "/swagger#/event"},
        ]
        return v

    def register(self, H, faults):
        body, ok = self.json_body()
        if "register_status" in faults:
            return self.reply(faults["register_status"], {})
        if not ok or not isinstance(body, dict) or \
                not isinstance(body.get("name"), str):
            return self.reply(400, {"error": "bad pack"})
        for link in body.get("links") or []:
            rel = link.get("rel", "")
            if "up" in rel or "self" in rel or rel.endswith(
                    ("/actionResult", "/takeAction", "/event")):
                return self.reply(400, {"error": "bad link rel " + rel})
        pid = pack_id(body)
        with LOCK:
            STATE["packs"][pid] = body
            STATE["registrations"] += 1
            journal({"pack": pid, "body": body})
            view = self.view(H, pid, body)
        loc = [("Location", "%s/v1/packs/%s" % (H, pid))]
        if self.server.location_only:
            return self.reply(201, b"", loc)
        self.reply(201, view, loc)

    def take(self, H, pid, known):
        with LOCK:
            if not known:
                return self.reply(404, {"error": "pack not found"})
            status = fault_count("take_status")
            if status:
                return self.reply(status, {"error": "injected"})
            raw = STATE["faults"].pop("take_raw_b64", None)
            if raw:
                return self.reply(200, base64.b64decode(raw))
            pack = STATE["packs"][pid]
            labels = pack.get("labels") or {}
            for a in STATE["actions"]:
                if a["state"] == "NEW" and a["pack"] == pack["name"] and \
                        all(labels.get(k) == v
                            for k, v in a["labels"].items()):
                    a["state"] = "PENDING"
                    a["taken"] = time.monotonic()
                    return self.reply(200, {
                        "command": a["command"], "input": a["input"],
                        "links": [{"href": "%s/v1/packs/%s/actions/%s/result"
                                   % (H, pid, a["id"]),
                                   "rel": H + "/swagger#/actionResult"}]})
        self.reply(204)

    def result(self, pid, known, aid):
        body, ok = self.json_body()
        with LOCK:
            f = STATE["faults"]
            if f.get("result_drop", 0) > 0:
                f["result_drop"] -= 1
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status = fault_count("result_fail")
            if status:
                return self.reply(status, {"error": "injected"})
            if not known:
                return self.reply(404, {"error": "pack not found"})
            if not ok or not isinstance(body, dict):
                return self.reply(400, {"error": "bad event"})
            a = next((a for a in STATE["actions"] if a["id"] == aid), None)
            if a is None:
                return self.reply(404, {"error": "action not found"})
            if a["state"] != "PENDING":
                return self.reply(500, {"error": "action not pending"})
            a["state"] = "FATAL" if body.get("event") == "FATAL" \
                else "SUCCESS"
            STATE["results"].append({
                "action": aid, "pack": pid, "command": a["command"],
                "event": body.get("event"), "payload": body.get("payload"),
                "createdAt": body.get("createdAt"),
                "latency_ms": (time.monotonic() - a["created"]) * 1000})
            journal({"result": STATE["results"][-1]})
            STATE["last_result"] = time.monotonic()
        self.reply(202)

    def event(self, pid, known):
        body, ok = self.json_body()
        with LOCK:
            status = fault_count("event_fail")
            if status:
                return self.reply(status, {"error": "injected"})
            if not known:
                return self.reply(404, {"error": "pack not found"})
            if not ok or not isinstance(body, dict):
                return self.reply(400, {"error": "bad event"})
            STATE["events"].append({
                "pack": pid, "event": body.get("event"),
                "payload": body.get("payload"),
                "createdAt": body.get("createdAt")})
            journal({"event": STATE["events"][-1]})
        self.reply(202)

    # --- hooks -----------------------------------------------------------
    def test_hook(self, method, path):
        body, ok = self.json_body()
        if not ok:
            return self.reply(400, {"error": "bad JSON"})
        with LOCK:
            if method == "GET" and path == "/_test/state":
                s = {k: v for k, v in STATE.items() if k != "faults"}
                s["actions"] = [{k: a[k] for k in
                                 ("id", "command", "input", "state")}
                                for a in STATE["actions"]]
                return self.reply(200, s)
            if method == "GET" and path == "/_test/stats":
                lat = sorted(r["latency_ms"] for r in STATE["results"])
                taken = [a["taken"] for a in STATE["actions"] if "taken" in a]
                st = {"results": len(lat), "seconds": 0, "latency_ms": {}}
                if lat:
                    st["seconds"] = STATE["last_result"] - min(taken)
                    st["latency_ms"] = {
                        "p50": lat[len(lat) // 2],
                        "p90": lat[len(lat) * 9 // 10],
                        "p99": lat[len(lat) * 99 // 100],
                        "max": lat[-1]}
                return self.reply(200, st)
            if method == "POST" and path == "/_test/actions":
                ids = []
                for _ in range(int(body.get("count", 1))):
                    aid = uuid.uuid4().hex[:12]
                    ids.append(aid)
                    STATE["actions"].append({
                        "id": aid, "pack": body["pack"],
                        "labels": body.get("labels") or {},
                        "command": body["command"],
                        "input": body.get("input"), "state": "NEW",
                        "created": time.monotonic()})
                return self.reply(200, {"ids": ids})
            if method == "POST" and path == "/_test/faults":
                STATE["faults"].update(body)
                return self.reply(200, STATE["faults"])
            if method == "POST" and path == "/_test/forget":
                STATE["packs"].clear()
                return self.reply(200, {})
            if method == "POST" and path == "/_test/reset":
                reset()
                return self.reply(200, {})
        self.reply(404, {"error": "no such hook"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--jwt")
    ap.add_argument("--location-only", action="store_true")
    ap.add_argument("--no-health-link", action="store_true")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--log")
    ap.add_argument("--state", metavar="FILE")
    a = ap.parse_args()
    global JOURNAL
    if a.state:
        replay(a.state)
        JOURNAL = open(a.state, "a", encoding="utf-8")
    srv = ThreadingHTTPServer((a.host, a.port), Handler)
    srv.tls = a.tls is not None
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*a.tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.daemon_threads = True
    srv.jwt = a.jwt
    srv.location_only = a.location_only
    srv.no_health_link = a.no_health_link
    srv.log = a.log

    def stop(signo, frame):
        threading.Thread(target=srv.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("port %d" % srv.server_address[1], flush=True)
    srv.serve_forever()
    srv.server_close()


if __name__ == "__main__":
    sys.exit(main())
