"""requests under one wall-clock deadline (apps/core/deadline.py).

`DeadlineAdapter` is mounted on a requests Session (sushy's too). Each request's timeouts are
clamped to the time left, and each socket it uses (a new one from connect on, TLS handshake
included, or a pooled one) is guarded: when the deadline passes the connection is shut down and
the blocked read ends, however slowly the server trickles.
"""
from __future__ import annotations

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from . import deadline


class _Guarded:
    def _new_conn(self):
        sock = super()._new_conn()
        deadline.guard(sock)
        return sock

    def request(self, *args, **kwargs):
        if self.sock is not None:  # a kept-alive connection serving this deadline now
            deadline.guard(self.sock)
        return super().request(*args, **kwargs)


class _GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


def _clamp(timeout, left: float):
    left = max(left, 0.001)
    if isinstance(timeout, tuple):
        return tuple(left if t is None else min(t, left) for t in timeout)
    return left if timeout is None else min(timeout, left)


class DeadlineAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def send(self, request, stream=False, timeout=None, **kwargs):
        deadline.check()  # out of time: do not even connect
        left = deadline.remaining()
        if left is not None:
            timeout = _clamp(timeout, left)
        try:
            return super().send(request, stream=stream, timeout=timeout, **kwargs)
        except Exception:
            passed = deadline.expired()
            if passed is not None:  # the cut connection is the symptom; the deadline is the reason
                raise deadline.DeadlineExceeded(passed) from None
            raise


def mount(session) -> None:
    """Put every request of `session` under the running deadline."""
    adapter = DeadlineAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
