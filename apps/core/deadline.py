"""One wall-clock deadline for an outside call, however the far end behaves.

A socket timeout bounds each read, not the call: a BMC that trickles one byte every 5 s kept a
request with a 10 s timeout alive for 240 s. Here a call runs inside `within(seconds, what)`;
clients clamp their timeouts to `remaining()` and hand their sockets to `guard(sock)`. One
watchdog thread shuts a guarded socket down the moment its deadline passes, so a blocked read
returns at once, and the client reports `DeadlineExceeded` (which names what ran out of time).

Deadlines nest per thread (the earliest one wins: a request's own bound inside a job's deadline);
`use(deadline)` carries one into a worker thread. No Django imports: clients use this too.
"""
from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time

_local = threading.local()
_ids = itertools.count()


class DeadlineExceeded(TimeoutError):
    """`deadline.what` did not finish within `deadline.seconds`."""

    def __init__(self, deadline: Deadline):
        self.deadline = deadline
        super().__init__(f"{deadline.what}: {reason(deadline, deadline)}")


def reason(passed: Deadline, own: Deadline | None = None) -> str:
    """Why a call ended, for a job or poll error: its own bound, or an enclosing deadline (named)."""
    if passed is own:
        return f"no complete answer within the {passed.seconds:g} s deadline"
    return f"stopped at the {passed.seconds:g} s deadline of {passed.what}"


class Deadline:
    def __init__(self, seconds: float, what: str):
        self.seconds, self.what = float(seconds), what
        self.at = time.monotonic() + self.seconds
        self.fired = False
        self._id = next(_ids)
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []  # our own duplicates of the guarded sockets' fds
        self._done = False

    def __repr__(self) -> str:
        return f"<Deadline {self.what!r} {self.seconds:g}s remaining={self.remaining():.2f}>"

    def __lt__(self, other: Deadline) -> bool:
        return (self.at, self._id) < (other.at, other._id)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return self.fired or time.monotonic() >= self.at

    def guard(self, sock) -> None:
        """Shut `sock`'s connection down when this deadline passes (at once if it already has).

        A duplicate of its descriptor is kept until the deadline ends: it names the same
        connection even after TLS wraps (and detaches) the plain socket, and a closed and
        reused descriptor number can never make us cut somebody else's connection."""
        try:
            dup = socket.socket(fileno=os.dup(sock.fileno()))
        except (OSError, ValueError):
            return  # already closed: nothing left to bound
        with self._lock:
            if not self._done:
                self._sockets.append(dup)
                if not self.expired():
                    return
        _cut(dup)

    def _expire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _cut(sock)

    def _finish(self) -> None:
        with self._lock:
            self._done = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()


def _cut(sock: socket.socket) -> None:
    # shutdown() acts on the connection, not on one descriptor: a read blocked on the original
    # socket in another thread returns at once, TLS or not.
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected any more


class _Watchdog:
    """One daemon thread per process; it sleeps until the earliest deadline."""

    def __init__(self):
        self._cond = threading.Condition()
        self._heap: list[Deadline] = []
        self._pid = None

    def add(self, deadline: Deadline) -> None:
        with self._cond:
            if self._pid != os.getpid():  # first use, or a forked child: the thread did not come along
                self._pid, self._heap = os.getpid(), []
                threading.Thread(target=self._run, name="deadline-watchdog", daemon=True).start()
            heapq.heappush(self._heap, deadline)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0]._done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0].at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                due = heapq.heappop(self._heap)
            due._expire()


_watchdog = _Watchdog()


def _stack() -> list[Deadline]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


@contextlib.contextmanager
def within(seconds: float, what: str):
    """Run the block under a deadline of `seconds` (nested in any deadline already running)."""
    deadline = Deadline(seconds, what)
    _watchdog.add(deadline)
    try:
        with use(deadline):
            yield deadline
    finally:
        deadline._finish()


@contextlib.contextmanager
def use(deadline: Deadline | None):
    """Apply a deadline made elsewhere (e.g. a poll round's) in this thread too."""
    if deadline is None:
        yield None
        return
    stack = _stack()
    stack.append(deadline)
    try:
        yield deadline
    finally:
        stack.remove(deadline)


def current() -> Deadline | None:
    """The earliest deadline running in this thread."""
    stack = _stack()
    return min(stack) if stack else None


def remaining(cap: float | None = None) -> float | None:
    """Seconds left: the smaller of `cap` and the current deadline's remaining time (None: no bound)."""
    deadline = current()
    if deadline is None:
        return cap
    left = deadline.remaining()
    return left if cap is None else min(cap, left)


def check() -> None:
    """Raise DeadlineExceeded if the current deadline has passed (before starting more work)."""
    deadline = expired()
    if deadline is not None:
        raise DeadlineExceeded(deadline)


def expired() -> Deadline | None:
    """The earliest deadline of this thread that has passed, if any (to explain a cut connection)."""
    passed = [d for d in _stack() if d.expired()]
    return min(passed) if passed else None


def guard(sock) -> None:
    """Shut `sock` down when the current deadline passes; no-op outside any deadline."""
    deadline = current()
    if deadline is not None:
        deadline.guard(sock)
