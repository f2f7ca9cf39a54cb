"""Run one job inside a Celery worker: claim it, call its handler, record how it ended.

The claim is idempotent: only a queued job is started (one atomic UPDATE), so a task delivered
twice (put back after a lost worker, re-queued by the reconciler) never runs a job twice. The
rule for a delivery that finds its job already running: if the process that claimed it is gone
(same worker machine, dead pid) or its heartbeat is older than JOBS_HEARTBEAT_TIMEOUT, the job
is failed with that reason; it is never started again, since it may have done part of its work
(a power-off sent, a command run). Otherwise the run is alive and the delivery is dropped.
"""
from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from . import registry
from .broadcast import publisher
from .events import append_event
from .heartbeat import Heartbeat
from .models import EventKind, Job, JobStatus
from .runner import JobCancelled, JobFailed, JobRunner
from .signals import job_finished

logger = logging.getLogger(__name__)

NOT_RERUN = "It was not started again because it may have done part of its work; retry it when that is safe."


def worker_identity(hostname: str | None) -> str:
    """`celery@host pid 1234`: the worker and the pool process that runs the job."""
    return f"{hostname or socket.gethostname()} pid {os.getpid()}"


def execute(job_id: int, worker: str | None = None) -> str | None:
    """Run the job if it is still queued. Returns its final status, or None if skipped."""
    now = timezone.now()
    me = worker_identity(worker)
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED, cancel_requested=False).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, worker=me
    )
    if not claimed:
        settle_redelivery(job_id, worker)
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
    except SoftTimeLimitExceeded:
        limit = registry.time_limit_for(kind, job.params)
        status, error = JobStatus.FAILED, f"Stopped at its time limit of {limit:g} s{_at_step(job_id)}."
    except Exception as exc:  # noqa: BLE001 - any handler bug must end the job, not hang it
        logger.exception("job %s (%s) crashed", job_id, job.kind)
        status, error = JobStatus.FAILED, f"Internal error: {type(exc).__name__}: {exc}"
    if runner.host_results and "hosts" not in result:
        result = {**result, "hosts": runner.host_results}
    finish(job_id, status, error=error, result=result)
    publisher.flush()
    return status


def settle_redelivery(job_id: int, worker: str | None) -> None:
    """A delivery for a job that is no longer queued: fail it if its run is provably dead."""
    job = Job.objects.filter(pk=job_id).only("status", "worker", "heartbeat_at", "current_step").first()
    if job is None or job.status != JobStatus.RUNNING:
        logger.info("job %s is no longer queued (%s); skipping", job_id, job.status if job else "deleted")
        return
    reason = None
    if _claimed_by_dead_process(job.worker, worker):
        reason = f"The worker process running it ({job.worker}) was lost (killed or out of memory)"
    elif job.heartbeat_at and job.heartbeat_at < timezone.now() - timedelta(seconds=settings.JOBS_HEARTBEAT_TIMEOUT):
        reason = (f"Its worker ({job.worker or 'unknown'}) stopped sending heartbeats at "
                  f"{job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC")
    if reason is None:
        logger.info("job %s is running elsewhere (%s); dropping the duplicate delivery", job_id, job.worker)
        return
    if finish(job_id, JobStatus.FAILED, error=f"{reason}{_at_step(job_id)}. {NOT_RERUN}"):
        logger.warning("job %s failed on redelivery: %s", job_id, reason)


def _claimed_by_dead_process(claimed_by: str, worker: str | None) -> bool:
    """True when `claimed_by` names a pool process of this same worker that no longer exists."""
    prefix = f"{worker} pid "
    if not worker or not claimed_by.startswith(prefix):
        return False  # another worker, perhaps on another machine: its heartbeat decides
    try:
        pid = int(claimed_by[len(prefix):])
    except ValueError:
        return False
    if pid == os.getpid():
        return True  # this process runs one task at a time: the earlier run is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def fail_after_hard_limit(job_id: int, exc) -> None:
    """Called in the worker's main process when a job's pool process was killed at its hard limit."""
    limit = f"{exc.args[0]:g} s" if exc.args and isinstance(exc.args[0], (int, float)) else str(exc)
    finish(job_id, JobStatus.FAILED,
           error=f"Killed at its hard time limit of {limit}{_at_step(job_id)}: it did not stop at its soft limit.")
    publisher.flush()


def _at_step(job_id: int) -> str:
    step = Job.objects.filter(pk=job_id).values_list("current_step", flat=True).first()
    return f", during the step '{step}'" if step else ""


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
    job_finished.send_robust(sender=Job, job_id=job_id, status=status, error=error)  # a listener's error stays its own
    return True
