"""The API a job handler uses to report: step(), log(), progress(), host_result().

Every call persists an event and publishes it. step() and check_cancelled() honour a cancel
request, so cancelling stops the work between steps.
"""
from __future__ import annotations

import time

from .events import append_event
from .models import EventKind, Job


class JobCancelled(Exception):
    """Raised inside a handler when the job was cancelled; the job ends `cancelled`."""


class JobFailed(Exception):
    """Raise with a readable reason to end the job `failed` without a traceback."""


class JobRunner:
    CANCEL_POLL_INTERVAL = 0.25

    def __init__(self, job: Job):
        self.job = job
        self.job_id = job.pk
        self.steps_done = 0
        self.host_results: dict[str, dict] = {}
        self._last_cancel_check = 0.0

    # --- reporting -------------------------------------------------------------------
    def step(self, name: str, *, progress: int | None = None) -> None:
        """Begin a named step; stops here if the job was cancelled."""
        self.check_cancelled(force=True)
        self.steps_done += 1
        append_event(self.job_id, EventKind.STEP, name, step=name, progress=_clamp(progress),
                     data={"progress": _clamp(progress)} if progress is not None else None)

    def log(self, message: str, *, host: str = "", level: str = "info", **data) -> dict:
        if level != "info":
            data["level"] = level
        return append_event(self.job_id, EventKind.LOG, message, host=host, data=data)

    def progress(self, percent: int, message: str = "") -> None:
        pct = _clamp(percent)
        append_event(self.job_id, EventKind.PROGRESS, message, progress=pct, data={"progress": pct})

    def host_result(self, host: str, ok: bool, message: str = "", **data) -> None:
        """Record the outcome for one host of a fan-out job."""
        self.host_results[host] = {"ok": ok, "message": message, **data}
        append_event(self.job_id, EventKind.HOST, message, host=host, data={"ok": ok, **data})

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


def _clamp(value):
    if value is None:
        return None
    return max(0, min(100, int(value)))
