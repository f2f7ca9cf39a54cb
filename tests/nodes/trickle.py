"""A server that answers one byte at a time: the BMC (or SSH host) that per-read timeouts never catch.

`TrickleServer(mode=...)` listens on 127.0.0.1 (a thread per connection) and, once a client is in,
sends one byte every `interval` seconds until `limit` bytes (so a client that is never cut
still ends) or until the client goes away:
  - "https": completes the TLS handshake, reads the request, then dribbles an HTTP response
    whose header block never ends;
  - "tls-handshake": dribbles a TLS record that never completes (stuck inside the handshake);
  - "ssh": dribbles banner-ish lines (an SSH server that never finishes saying hello).
`closed_after` records, per connection, how long the client kept it open.
"""
from __future__ import annotations

import select
import socket
import ssl
import tempfile
import threading
import time
from pathlib import Path

from .listeners import self_signed

_STREAMS = {
    "https": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 100_000,
    "tls-handshake": b"\x16\x03\x03\x40\x00" + b"\x00" * 100_000,
    "ssh": b"x\r\n" * 100_000,
}


class TrickleServer:
    def __init__(self, mode: str = "https", interval: float = 1.0, limit: int = 60):
        self.mode, self.interval, self.limit = mode, interval, limit
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.closed_after: list[float] = []
        self._stop = threading.Event()
        self._tls = None
        if mode == "https":
            self._dir = tempfile.TemporaryDirectory()
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(*self_signed(Path(self._dir.name)))

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.sock.close()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._dribble, args=(conn,), daemon=True).start()

    def _dribble(self, conn):
        start = time.monotonic()
        try:
            conn.settimeout(5)
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
                conn.recv(65536)  # the request head
            for byte in _STREAMS[self.mode][: self.limit]:
                readable, _, _ = select.select([conn], [], [], self.interval)
                if self._stop.is_set() or (readable and not conn.recv(4096)):
                    break  # stopped, or the client closed its side
                conn.sendall(bytes([byte]))
        except OSError:
            pass  # the client hung up: that is what a deadline does
        finally:
            self.closed_after.append(time.monotonic() - start)
            conn.close()
