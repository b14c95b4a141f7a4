#!/usr/bin/python3
"""An HTTP CONNECT proxy for the tests.

  connect_proxy.py [--port N] [--auth USER:PASS] [--refuse]

Listens on 127.0.0.1 (port 0: a free one) and prints "port N" on stdout.
Each connection must open with a CONNECT request; the answer is
  407 without the right Proxy-Authorization: Basic (with --auth),
  403 for targets other than 127.0.0.1, localhost and ::1,
  502 with --refuse or when the target cannot be reached,
  200 otherwise, and then bytes are relayed both ways until either side
  closes, when both are closed.
Each request line goes to stderr with the answer: "CONNECT h:p HTTP/1.1 -> 200".
Runs until killed (SIGTERM/SIGINT)."""
import argparse
import base64
import socket
import sys
import threading

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_HEAD = 64 * 1024


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read_head(sock):
    """The request head (up to the blank line) and any bytes after it."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > MAX_HEAD:
            return None, b""
        chunk = sock.recv(4096)
        if not chunk:
            return None, b""
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


def split_target(target):
    """host:port or [v6]:port -> (host, port), or None."""
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def relay(a, b):
    """Copy bytes both ways; when either side closes (or fails), shut both
    down, and the last of the two threads closes the sockets."""
    lock, left = threading.Lock(), [2]

    def copy(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            a.close()
            b.close()

    for src, dst in ((a, b), (b, a)):
        threading.Thread(target=copy, args=(src, dst), daemon=True).start()


def answer(client, line, code, reason, extra=""):
    log(f"{line} -> {code}")
    client.sendall(f"HTTP/1.1 {code} {reason}\r\n{extra}"
                   "Content-Length: 0\r\n\r\n".encode())
    client.close()


def handle(client, args):
    try:
        head, rest = read_head(client)
        if head is None:
            client.close()
            return
        lines = head.split("\r\n")
        line = lines[0]
        headers = {}
        for h in lines[1:]:
            k, _, v = h.partition(":")
            headers[k.strip().lower()] = v.strip()
        parts = line.split()
        if len(parts) != 3 or parts[0] != "CONNECT":
            return answer(client, line, 405, "Method Not Allowed")
        if args.auth:
            want = "Basic " + base64.b64encode(args.auth.encode()).decode()
            if headers.get("proxy-authorization") != want:
                return answer(client, line, 407, "Proxy Authentication Required",
                              'Proxy-Authenticate: Basic realm="evpipe-test"\r\n')
        target = split_target(parts[1])
        if target is None or target[0] not in LOOPBACK:
            return answer(client, line, 403, "Forbidden")
        if args.refuse:
            return answer(client, line, 502, "Bad Gateway")
        try:
            upstream = socket.create_connection(target, timeout=5)
            upstream.settimeout(None)
        except OSError:
            return answer(client, line, 502, "Bad Gateway")
        log(f"{line} -> 200")
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            upstream.sendall(rest)
    except OSError:
        client.close()
        return
    relay(client, upstream)


def main():
    ap = argparse.ArgumentParser(description="HTTP CONNECT test proxy")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--auth", metavar="USER:PASS")
    ap.add_argument("--refuse", action="store_true")
    args = ap.parse_args()

    srv = socket.create_server(("127.0.0.1", args.port), backlog=64)
    print(f"port {srv.getsockname()[1]}", flush=True)
    try:
        while True:
            client, _ = srv.accept()
            threading.Thread(target=handle, args=(client, args),
                             daemon=True).start()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
