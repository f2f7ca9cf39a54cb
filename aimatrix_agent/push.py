"""HTTP to the portal with one wall-clock deadline per request (stdlib only).

A socket timeout bounds each read, not the request: a server trickling a byte every few
seconds would hold a plain urllib call forever. Here a timer shuts the socket down when the
deadline passes, so the blocked read ends whatever the server does.
"""
from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse

USER_AGENT = "aimatrix-agent/1"


class Unreachable(Exception):
    """No answer (connection refused, reset, deadline): try again later."""


class Answer:
    def __init__(self, status: int, body: bytes):
        self.status = status
        self.body = body

    def json(self):
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def detail(self) -> str:
        data = self.json()
        if isinstance(data, dict):
            return json.dumps(data)[:300]
        return self.body[:300].decode("utf-8", "replace")


def post_json(url: str, body: bytes, *, token: str | None = None, deadline_s: float = 30.0,
              ca_file: str | None = None) -> Answer:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    started = time.monotonic()
    # The socket timeout is only a backstop; the timer below is what ends the request on time.
    socket_timeout = deadline_s + 5
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=ca_file)
        conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=socket_timeout, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=socket_timeout)
    expired = threading.Event()

    def _expire():
        expired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(deadline_s, _expire)
    timer.daemon = True
    timer.start()
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read(4 * 1024 * 1024)
        if expired.is_set():
            raise Unreachable(f"no complete answer within {deadline_s:.0f} s")
        return Answer(response.status, data)
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set() or time.monotonic() - started >= deadline_s:
            raise Unreachable(f"no complete answer within {deadline_s:.0f} s") from None
        raise Unreachable(f"{type(exc).__name__}: {exc}") from None
    finally:
        timer.cancel()
        conn.close()
