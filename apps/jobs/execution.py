"""Run one job inside a Celery worker: claim it, call its handler, record how it ended."""
from __future__ import annotations

import logging
import socket

from django.utils import timezone

from . import registry
from .broadcast import publisher
from .events import append_event
from .heartbeat import Heartbeat
from .models import EventKind, Job, JobStatus
from .runner import JobCancelled, JobFailed, JobRunner

logger = logging.getLogger(__name__)


def execute(job_id: int, worker: str | None = None) -> str | None:
    """Run the job if it is still queued. Returns its final status, or None if skipped."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED, cancel_requested=False).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, worker=worker or socket.gethostname()
    )
    if not claimed:
        logger.info("job %s is no longer queued; skipping", job_id)
        return None
    job = Job.objects.get(pk=job_id)
    kind = registry.get_kind(job.kind)
    append_event(job_id, EventKind.STATUS, "running", data={"status": JobStatus.RUNNING})
    runner = JobRunner(job)
    status, error, result = JobStatus.SUCCEEDED, "", {}
    try:
        if kind is None:
            raise JobFailed(f"this worker does not know the job kind {job.kind!r}")
        with Heartbeat(job_id), runner:
            result = kind.handler(runner, job.params, job.target) or {}
    except JobCancelled:
        status, error = JobStatus.CANCELLED, "Cancelled on request."
    except JobFailed as exc:
        status, error = JobStatus.FAILED, str(exc)
    except Exception as exc:  # noqa: BLE001 - any handler bug must end the job, not hang it
        logger.exception("job %s (%s) crashed", job_id, job.kind)
        status, error = JobStatus.FAILED, f"Internal error: {type(exc).__name__}: {exc}"
    if runner.host_results and "hosts" not in result:
        result = {**result, "hosts": runner.host_results}
    finish(job_id, status, error=error, result=result)
    publisher.flush()
    return status


def finish(job_id: int, status: str, *, error: str = "", result: dict | None = None,
           from_statuses=(JobStatus.RUNNING,)) -> bool:
    """Move a job to a final status once (a job that already ended keeps its first outcome)."""
    fields = {"status": status, "finished_at": timezone.now(), "error": error}
    if result is not None:
        fields["result"] = result
    if status == JobStatus.SUCCEEDED:
        fields["progress"] = 100
    if not Job.objects.filter(pk=job_id, status__in=from_statuses).update(**fields):
        return False
    if error and status == JobStatus.FAILED:
        append_event(job_id, EventKind.ERROR, error)
    if result:
        append_event(job_id, EventKind.RESULT, "result", data=result)
    final = {"status": status, "error": error}
    if status == JobStatus.SUCCEEDED:
        final["progress"] = 100
    append_event(job_id, EventKind.STATUS, status, data=final, progress=100 if status == JobStatus.SUCCEEDED else None)
    return True
