"""Starting, cancelling, retrying and reaping jobs; who may see which job.

Views, the admin, the API and tasks all call these functions; none of them touch Job rows
directly.
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.audit import record_audit
from apps.core.contenttypes import content_type_for
from apps.core.errors import Conflict, Forbidden, InvalidInput
from apps.rbac.permissions import can, restrict

from . import registry
from .events import append_event
from .execution import NOT_RERUN, finish
from .models import EventKind, Job, JobStatus

logger = logging.getLogger(__name__)


# --- visibility ---------------------------------------------------------------------------
def visible_jobs(user):
    """Jobs the user may see: their own; all of them with jobs.view_job + rbac.unrestricted."""
    return restrict(Job.objects.all(), user, "view")


def can_view_job(user, job: Job) -> bool:
    return can(user, job, "view")


def startable_kinds(user) -> list[registry.JobKind]:
    return [k for k in registry.all_kinds() if user.has_perm(k.permission)]


# --- start / cancel / retry -------------------------------------------------------------
def validate_params(kind: registry.JobKind, params) -> dict:
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidInput({"params": ["Must be a JSON object."]})
    if kind.params_serializer is None:
        if params:
            raise InvalidInput({"params": [f"Job kind {kind.name!r} takes no parameters."]})
        return {}
    serializer = kind.params_serializer(data=params)
    if not serializer.is_valid():
        raise InvalidInput({"params": serializer.errors})
    unknown = sorted(set(params) - set(serializer.fields))
    if unknown:
        raise InvalidInput({"params": {name: ["Unknown parameter."] for name in unknown}})
    return dict(serializer.validated_data)


def start_job(user, kind_name: str, params=None, *, target=None, retry_of: Job | None = None,
              audit: bool = True) -> Job:
    """Validate, check permission, record the job and enqueue it after the transaction commits.
    `audit=False`: the caller's own audit entry names the job (one change, one entry)."""
    kind = registry.get_kind(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        known = ", ".join(k.name for k in registry.all_kinds())
        raise InvalidInput({"kind": [f"Unknown job kind {kind_name!r}. Known kinds: {known}."]})
    if not user.has_perm(kind.permission):
        raise Forbidden(f"You do not have permission to start {kind.name} jobs.")
    clean = validate_params(kind, params)
    if kind.authorize is not None:
        kind.authorize(user, clean)
    with transaction.atomic():
        job = Job.objects.create(
            kind=kind.name,
            params=clean,
            requester=user if user.is_authenticated else None,
            queue=kind.queue,
            celery_task_id=uuid.uuid4().hex,
            retry_of=retry_of,
            target_type=content_type_for(target) if target is not None else None,
            target_id=str(target.pk) if target is not None else "",
            target_repr=str(target)[:200] if target is not None else "",
        )
        append_event(job.pk, EventKind.STATUS, "queued", data={"status": JobStatus.QUEUED}, publish=False)
        if audit:
            record_audit("job.retry" if retry_of else "job.start", actor=user, obj=job,
                         after={"kind": job.kind, "params": clean, "retry_of": retry_of.pk if retry_of else None})
        transaction.on_commit(lambda: enqueue(job))
    return job


def enqueue(job: Job) -> None:
    from .tasks import run_job

    soft = registry.time_limit_for(registry.get_kind(job.kind), job.params)
    try:
        run_job.apply_async(
            args=[job.pk], queue=job.queue, task_id=job.celery_task_id,
            soft_time_limit=soft, time_limit=soft + settings.JOBS_TIME_LIMIT_GRACE,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
        )
    except Exception as exc:  # noqa: BLE001 - broker down: the job fails visibly instead of hanging
        logger.warning("could not queue job %s: %s", job.pk, exc)
        finish(job.pk, JobStatus.FAILED, error=f"Could not queue the job: the task broker is unavailable ({exc}).",
               from_statuses=(JobStatus.QUEUED,))


def cancel_job(user, job: Job) -> Job:
    if not can_view_job(user, job):
        raise Forbidden("You may not see this job.")
    if not can(user, job, "cancel"):
        raise Forbidden("Only the requester or an operator with cancel permission may cancel this job.")
    if not job.is_active:
        raise Conflict(f"Job {job.pk} has already ended ({job.status}); only queued or running jobs can be cancelled.")
    before = {"status": job.status}
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    append_event(job.pk, EventKind.LOG, f"Cancel requested by {user.get_username()}.", data={"level": "warning"})
    # A job still waiting in the queue ends now; a running one stops at its next step.
    finish(job.pk, JobStatus.CANCELLED, error="Cancelled before it started.", from_statuses=(JobStatus.QUEUED,))
    _revoke(job)
    job.refresh_from_db()
    record_audit("job.cancel", actor=user, obj=job, before=before, after={"status": job.status, "cancel_requested": True})
    return job


def _revoke(job: Job) -> None:
    from aimatrix.celery import app

    try:
        app.control.revoke(job.celery_task_id)
    except Exception as exc:  # noqa: BLE001 - the cooperative flag still stops the job
        logger.warning("could not revoke task of job %s: %s", job.pk, exc)


def retry_job(user, job: Job) -> Job:
    if not can_view_job(user, job):
        raise Forbidden("You may not see this job.")
    if job.is_active:
        raise Conflict(f"Job {job.pk} is still {job.status}; only finished jobs can be retried.")
    return start_job(user, job.kind, job.params, target=job.target, retry_of=job)


# --- reaping ------------------------------------------------------------------------------
def reap_stale_jobs(timeout: float | None = None) -> list[int]:
    """Fail running jobs whose worker stopped sending heartbeats (killed, OOM, machine lost).
    Called by the reconciler in beat (apps/jobs/reconcile.py)."""
    timeout = timeout if timeout is not None else settings.JOBS_HEARTBEAT_TIMEOUT
    cutoff = timezone.now() - timedelta(seconds=timeout)
    stale = list(Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)
                 .values_list("pk", "worker", "heartbeat_at", "current_step"))
    reaped = []
    for pk, worker, heartbeat, step in stale:
        at_step = f" It was at the step '{step}'." if step else ""
        reason = (f"The worker {worker or '(unknown)'} stopped responding: no heartbeat since "
                  f"{heartbeat:%Y-%m-%d %H:%M:%S} UTC (timeout {timeout:g} s).{at_step} {NOT_RERUN}")
        if finish(pk, JobStatus.FAILED, error=reason):
            reaped.append(pk)
            record_audit("job.reap", obj=Job.objects.get(pk=pk), after={"status": JobStatus.FAILED, "reason": reason})
    return reaped
