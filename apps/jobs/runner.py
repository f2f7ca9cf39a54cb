"""The API a job handler uses to report: step(), log(), progress(), host_result(), waiting().

Every call persists an event and publishes it. step() and check_cancelled() honour a cancel
request, so cancelling stops the work between steps.

Log lines are written in small batches: a background thread stores what has piled up at most
LOG_FLUSH_INTERVAL (10 ms) after the first line (one statement for the batch), so a chatty job costs one
database round trip per batch instead of per line. Any other event first flushes the pending
lines, so the order of the log is always the order of the calls.
"""
from __future__ import annotations

import threading
import time

from django.db import connection
from django.utils import timezone

from .events import append_event, append_events
from .models import EventKind, Job


class JobCancelled(Exception):
    """Raised inside a handler when the job was cancelled; the job ends `cancelled`."""


class JobFailed(Exception):
    """Raise with a readable reason to end the job `failed` without a traceback."""


class JobRunner:
    CANCEL_POLL_INTERVAL = 0.25
    LOG_FLUSH_INTERVAL = 0.01
    LOG_BATCH_MAX = 500
    WAIT_REPORT_INTERVAL = 1.0

    def __init__(self, job: Job):
        self.job = job
        self.job_id = job.pk
        self.steps_done = 0
        self.host_results: dict[str, dict] = {}
        self._last_cancel_check = 0.0
        self._pending: list[dict] = []
        self._write_lock = threading.Lock()  # one writer at a time keeps the log in call order
        self._wake = threading.Condition()
        self._closed = False
        self._flusher: threading.Thread | None = None
        self._last_flush = 0.0

    # --- lifecycle ---------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Store every pending line and stop the background writer."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._flusher is not None:
            self._flusher.join(5)
        self.flush()

    def flush(self) -> None:
        with self._write_lock:
            with self._wake:
                batch, self._pending = self._pending, []
            append_events(self.job_id, batch)

    def _flush_loop(self) -> None:
        try:
            while True:
                with self._wake:
                    while not self._pending and not self._closed:
                        self._wake.wait()
                    if self._closed:
                        return
                    # After a quiet spell the first line goes out at once; during a burst, lines
                    # gather for a moment (unless the batch is already full).
                    quiet = time.monotonic() - self._last_flush > self.LOG_FLUSH_INTERVAL
                    deadline = time.monotonic() + (0 if quiet else self.LOG_FLUSH_INTERVAL)
                    while (len(self._pending) < self.LOG_BATCH_MAX and not self._closed
                           and (left := deadline - time.monotonic()) > 0):
                        self._wake.wait(left)
                self.flush()
                self._last_flush = time.monotonic()
        finally:
            connection.close()  # this thread's own database connection

    # --- reporting -------------------------------------------------------------------
    def step(self, name: str, *, progress: int | None = None) -> None:
        """Begin a named step; stops here if the job was cancelled."""
        self.check_cancelled(force=True)
        self.steps_done += 1
        self._now(EventKind.STEP, name, step=name, progress=_clamp(progress),
                  data={"progress": _clamp(progress)} if progress is not None else None)

    def log(self, message: str, *, host: str = "", level: str = "info", **data) -> None:
        if level != "info":
            data["level"] = level
        event = {"kind": EventKind.LOG, "message": message, "host": host, "data": data, "ts": timezone.now()}
        with self._wake:
            if self._closed:
                raise RuntimeError("log() after the job runner was closed")
            self._pending.append(event)
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_loop, name=f"job-{self.job_id}-log",
                                                 daemon=True)
                self._flusher.start()
            if len(self._pending) in (1, self.LOG_BATCH_MAX):
                self._wake.notify()

    def progress(self, percent: int, message: str = "") -> None:
        pct = _clamp(percent)
        self._now(EventKind.PROGRESS, message, progress=pct, data={"progress": pct})

    def host_result(self, host: str, ok: bool, message: str = "", **data) -> None:
        """Record the outcome for one host of a fan-out job."""
        self.host_results[host] = {"ok": ok, "message": message, **data}
        self._now(EventKind.HOST, message, host=host, data={"ok": ok, **data})

    def _now(self, kind, message, **fields) -> None:
        """Store an event at once, after the log lines that came before it."""
        with self._write_lock:
            with self._wake:
                batch, self._pending = self._pending, []
            append_events(self.job_id, batch)
            append_event(self.job_id, kind, message, **fields)

    # --- cancellation ----------------------------------------------------------------
    def check_cancelled(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_cancel_check < self.CANCEL_POLL_INTERVAL:
            return
        self._last_cancel_check = now
        if Job.objects.filter(pk=self.job_id, cancel_requested=True).exists():
            raise JobCancelled("cancelled on request")

    def sleep(self, seconds: float) -> None:
        """Sleep in small slices so a cancel request is noticed quickly."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.check_cancelled(force=True)
            time.sleep(min(left, self.CANCEL_POLL_INTERVAL))

    def waiting(self, what: str, deadline_s: float, *, start: int = 0, end: int = 99):
        """The sleep function for a wait loop (a client's poll-until-ready): it honours cancel and,
        at most every WAIT_REPORT_INTERVAL, moves the progress bar from `start` towards `end` as the
        deadline is used up, saying what the job waits for and for how long it has waited."""
        began = time.monotonic()
        last_report = began

        def sleep(seconds: float) -> None:
            nonlocal last_report
            self.sleep(seconds)
            now = time.monotonic()
            if now - last_report >= self.WAIT_REPORT_INTERVAL:
                last_report = now
                waited = now - began
                share = min(1.0, waited / deadline_s) if deadline_s > 0 else 1.0
                self.progress(start + (end - start) * share,
                              f"Waiting for {what}: {waited:.0f} s of at most {deadline_s:g} s")

        return sleep


def _clamp(value):
    if value is None:
        return None
    return max(0, min(100, int(value)))
