"""Container health check: GET /healthz on the local gunicorn, exit 0 only on HTTP 200.

The request looks like one the TLS proxy forwards: a Host from ALLOWED_HOSTS (else Django
answers 400) and X-Forwarded-Proto: https (else SECURE_SSL_REDIRECT answers 301). Only the
standard library: it runs every 30 s and must be cheap.
"""

from __future__ import annotations

import http.client
import os
import sys


def health_host() -> str:
    """The first usable name in ALLOWED_HOSTS (``.example.org`` → ``example.org``)."""
    for name in os.environ.get("ALLOWED_HOSTS", "localhost").split(","):
        name = name.strip().lstrip(".")
        if name and name != "*":
            return name
    return "localhost"


def main() -> int:
    port = int(os.environ.get("HEALTHCHECK_PORT", "8000"))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=8)
    try:
        conn.request("GET", "/healthz", headers={"Host": health_host(),
                                                 "X-Forwarded-Proto": "https"})
        response = conn.getresponse()
        body = response.read(2000)
    except OSError as exc:
        print(f"healthz: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    if response.status != 200:
        print(f"healthz: HTTP {response.status} {body.decode(errors='replace')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
