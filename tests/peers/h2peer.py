#!/usr/bin/python3
"""A raw HTTP/2 peer that sends exact frames, for the fault tests: no
HTTP/2 library, only the standard library (hand-made frames; HPACK as
literal fields without indexing; the peer's own HPACK is never decoded).

  h2peer.py server SCENARIO     listen on 127.0.0.1 (port 0), print "port N"
  h2peer.py client PORT SCENARIO

Server scenarios, played on each connection (one at a time) once the
client's first HEADERS arrives on stream S, unless said otherwise:
  silent           accept and read, never send a byte (not even SETTINGS)
  close            accept and close at once
  settings-close   send SETTINGS after the client's preface, then close
  rst:CODE         RST_STREAM(S, CODE)
  http:STATUS[:CT] one HEADERS with END_STREAM: :status STATUS,
                   content-type CT (default text/html), no grpc-status
  goaway-graceful  response headers, a message, GOAWAY(S, NO_ERROR), a
                   message, trailers grpc-status 0: the call may finish
  goaway-refuse    GOAWAY(0, NO_ERROR): S was never processed
  goaway-error     response headers, a message, GOAWAY(S, INTERNAL_ERROR,
                   "boom"), close
  too-many-pings   response headers; on the client's first PING, GOAWAY(S,
                   ENHANCE_YOUR_CALM, "too_many_pings") and close
  hang             response headers, then nothing (PINGs are answered)
  push-promise     PUSH_PROMISE(S, promised stream 2) with a GET request's
                   fields, then the response as for hang (RFC 9113 8.4: a
                   client that said ENABLE_PUSH 0 must treat it as a
                   connection error PROTOCOL_ERROR)
  data-stream-0    response headers, then a DATA frame on stream 0 (RFC
                   9113 6.1: a connection error PROTOCOL_ERROR)
  no-status        response HEADERS without :status (RFC 9113 8.3.2: a
                   malformed response, a stream error PROTOCOL_ERROR)
  gzip             response headers with grpc-encoding gzip, then a
                   message whose Compressed-Flag is 1, then trailers
                   grpc-status 0
Messages are evpipe.test.EchoReply{text: "x", index: I}.  Each frame
received is logged on stderr as "recv TYPE stream N flags F length L".

Client scenarios (connection preface, SETTINGS, SETTINGS ACK first):
  pings:N[:S]      N PINGs in a row, then read until the server closes
                   (or S seconds, default 5, pass with no frame) and print
                   {"timeout": true} or {"closed": true} after one line per
                   frame: {"type": "PING", "flags": 1, ...}; GOAWAY lines
                   carry "last_stream", "error" and "debug".
"""
import json
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE = \
    0, 1, 3, 4, 5, 6, 7, 8
NAMES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM",
         4: "SETTINGS", 5: "PUSH_PROMISE", 6: "PING", 7: "GOAWAY",
         8: "WINDOW_UPDATE", 9: "CONTINUATION"}
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
NO_ERROR, INTERNAL_ERROR, ENHANCE_YOUR_CALM = 0, 2, 11


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def hpack_int(value, prefix_bits, first=0):
    """RFC 7541 5.1 integer with an N-bit prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def hpack(fields):
    """Literal header fields without indexing, new names, no Huffman."""
    out = b""
    for name, value in fields:
        name, value = name.encode(), value.encode()
        out += b"\x00" + hpack_int(len(name), 7) + name + \
            hpack_int(len(value), 7) + value
    return out


def headers(stream, fields, end_stream=False):
    return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0),
                 stream, hpack(fields))


def message(index):
    body = b"\x0a\x01x" + (b"\x18" + bytes([index]) if index else b"")
    return b"\x00" + struct.pack(">I", len(body)) + body


def data(stream, payload, end_stream=False):
    return frame(DATA, END_STREAM if end_stream else 0, stream, payload)


def goaway(last, code, debug=b""):
    return frame(GOAWAY, 0, 0, struct.pack(">II", last, code) + debug)


RESPONSE = [(":status", "200"), ("content-type", "application/grpc")]


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, b):
        self.sock.sendall(b)

    def read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self):
        hdr = self.read_exact(9)
        length = int.from_bytes(hdr[:3], "big")
        ftype, flags = hdr[3], hdr[4]
        stream = int.from_bytes(hdr[5:9], "big") & 0x7FFFFFFF
        payload = self.read_exact(length)
        print(f"recv {NAMES.get(ftype, ftype)} stream {stream} flags {flags} "
              f"length {length}", file=sys.stderr, flush=True)
        if ftype == SETTINGS and not flags & ACK:
            self.send(frame(SETTINGS, ACK, 0))
        elif ftype == PING and not flags & ACK and not getattr(self, "no_ping_ack", False):
            self.send(frame(PING, ACK, 0, payload))
        return ftype, flags, stream, payload

    def drain(self):
        """Read (answering SETTINGS and PINGs) until the peer closes."""
        try:
            while True:
                self.read_frame()
        except (EOFError, OSError):
            pass

    def close(self):
        """Close after what was sent: FIN, then read until the peer
        closes too.  (close() with unread input sends a TCP reset, and
        the peer's kernel may drop our last frames unread.)"""
        self.sock.shutdown(socket.SHUT_WR)
        self.sock.settimeout(10)
        try:
            while self.sock.recv(65536):
                pass
        except OSError:
            pass


def serve_one(conn, scenario):
    if scenario == "silent":
        while conn.sock.recv(65536):
            pass
        return
    if scenario == "close":
        return
    if conn.read_exact(len(PREFACE)) != PREFACE:
        print("h2peer: no connection preface", file=sys.stderr)
        return
    if scenario == "settings-close":
        conn.send(frame(SETTINGS, 0, 0))
        conn.close()
        return
    conn.send(frame(SETTINGS, 0, 0))
    conn.no_ping_ack = scenario == "too-many-pings"
    while True:  # up to the first request
        ftype, flags, sid, payload = conn.read_frame()
        if ftype == HEADERS:
            break
    kind, _, arg = scenario.partition(":")
    if kind == "rst":
        conn.send(frame(RST_STREAM, 0, sid, struct.pack(">I", int(arg))))
    elif kind == "http":
        status, _, ctype = arg.partition(":")
        conn.send(headers(sid, [(":status", status),
                                ("content-type", ctype or "text/html")],
                          end_stream=True))
    elif scenario == "goaway-graceful":
        conn.send(headers(sid, RESPONSE) + data(sid, message(0)) +
                  goaway(sid, NO_ERROR) + data(sid, message(1)) +
                  headers(sid, [("grpc-status", "0")], end_stream=True))
    elif scenario == "goaway-refuse":
        conn.send(goaway(0, NO_ERROR))
    elif scenario == "goaway-error":
        conn.send(headers(sid, RESPONSE) + data(sid, message(0)) +
                  goaway(sid, INTERNAL_ERROR, b"boom"))
        conn.close()
        return
    elif scenario == "too-many-pings":
        conn.send(headers(sid, RESPONSE))
        while True:
            ftype, flags, _, _ = conn.read_frame()
            if ftype == PING and not flags & ACK:
                conn.send(goaway(sid, ENHANCE_YOUR_CALM, b"too_many_pings"))
                conn.close()
                return
    elif scenario == "hang":
        conn.send(headers(sid, RESPONSE))
    elif scenario == "push-promise":
        conn.send(frame(PUSH_PROMISE, END_HEADERS, sid, struct.pack(">I", 2) +
                        hpack([(":method", "GET"), (":scheme", "http"),
                               (":path", "/pushed"),
                               (":authority", "127.0.0.1")])) +
                  headers(sid, RESPONSE))
    elif scenario == "data-stream-0":
        conn.send(headers(sid, RESPONSE) + data(0, message(0)))
    elif scenario == "no-status":
        conn.send(headers(sid, [("content-type", "application/grpc")]))
    elif scenario == "gzip":
        body = message(0)
        conn.send(headers(sid, RESPONSE + [("grpc-encoding", "gzip")]) +
                  data(sid, b"\x01" + body[1:]) +
                  headers(sid, [("grpc-status", "0")], end_stream=True))
    else:
        sys.exit(f"h2peer: unknown scenario {scenario}")
    conn.drain()


def server(scenario):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    print(f"port {ls.getsockname()[1]}", flush=True)
    while True:
        sock, _ = ls.accept()
        try:
            serve_one(Conn(sock), scenario)
        except (EOFError, OSError) as e:
            print(f"h2peer: {e!r}", file=sys.stderr, flush=True)
        finally:
            sock.close()


def client(port, scenario):
    kind, _, arg = scenario.partition(":")
    if kind != "pings":
        sys.exit(f"h2peer: unknown client scenario {scenario}")
    count, _, wait = arg.partition(":")
    sock = socket.create_connection(("127.0.0.1", int(port)))
    sock.settimeout(float(wait or 5))
    conn = Conn(sock)
    conn.send(PREFACE + frame(SETTINGS, 0, 0))
    conn.send(b"".join(frame(PING, 0, 0, struct.pack(">Q", i))
                       for i in range(int(count))))
    try:
        while True:
            ftype, flags, sid, payload = conn.read_frame()
            rec = {"type": NAMES.get(ftype, str(ftype)), "flags": flags,
                   "stream": sid}
            if ftype == GOAWAY:
                last, code = struct.unpack(">II", payload[:8])
                rec.update(last_stream=last & 0x7FFFFFFF, error=code,
                           debug=payload[8:].decode("latin-1"))
            print(json.dumps(rec), flush=True)
    except socket.timeout:
        print(json.dumps({"timeout": True}), flush=True)
    except (EOFError, OSError):
        print(json.dumps({"closed": True}), flush=True)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "server":
        server(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "client":
        client(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
