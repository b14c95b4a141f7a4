#!/usr/bin/python3
"""mkjwt.py SECONDS [SUBJECT]: print an (unsigned) JWT whose exp is
SECONDS from now (negative: already expired), as a token command for
the tests.  Each run gives a new token (iat in microseconds)."""
import base64
import json
import sys
import time


def b64(d):
    return base64.urlsafe_b64encode(
        json.dumps(d, separators=(",", ":")).encode()).rstrip(b"=").decode()


now = time.time()
claims = {"sub": sys.argv[2] if len(sys.argv) > 2 else "test",
          "iat": int(now), "jti": "%d" % int(now * 1e6),
          "exp": int(now + float(sys.argv[1]))}
print("%s.%s.%s" % (b64({"alg": "none", "typ": "JWT"}), b64(claims),
                    "c2ln"))
