"""What this app takes from the jobs app below it: a `job.finished` event for every job that
ends, and the fleet's job error rate as an alert metric."""
from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Q

from apps.jobs.models import Job, JobStatus
from apps.jobs.signals import job_finished

from . import metrics
from .models import EventType, Severity
from .publish import publish


def _on_job_finished(sender, job_id: int, status: str, error: str = "", **kwargs):
    job = Job.objects.filter(pk=job_id).only("id", "kind", "status", "target_repr", "requester_id",
                                             "started_at", "finished_at").first()
    if job is None:
        return
    severity = Severity.WARNING if status == JobStatus.FAILED else Severity.INFO
    message = f"job {job.pk} {job.kind} {status}" + (f" on {job.target_repr}" if job.target_repr else "")
    publish(EventType.JOB_FINISHED, job, message,
            {"job": job.pk, "kind": job.kind, "status": status, "error": error[:300], "target": job.target_repr},
            severity=severity, project=None, labels=[])


job_finished.connect(_on_job_finished, dispatch_uid="events.job_finished")


def _job_error_rate(rule, start, end) -> list[metrics.Reading]:
    """Failed jobs as a percentage of the jobs that ended in [start, end) (cancelled ones count as
    ended, not as errors). Below EVENTS_JOB_ERROR_RATE_MIN_JOBS ended jobs there is no verdict."""
    row = Job.objects.filter(finished_at__gte=start, finished_at__lt=end).aggregate(
        ended=Count("id"), failed=Count("id", filter=Q(status=JobStatus.FAILED)))
    if row["ended"] < settings.EVENTS_JOB_ERROR_RATE_MIN_JOBS:
        return []
    rate = 100.0 * row["failed"] / row["ended"]
    return [metrics.Reading(None, row["ended"], rate, rate, start)]


metrics.register(metrics.MetricSource("job.error_rate_pct", "Job error rate", "%", _job_error_rate, rate=True))
