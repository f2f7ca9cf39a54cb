"""A job whose worker died is marked failed by the reaper; a live one is left alone."""
import time

import pytest
from django.conf import settings

from apps.core.models import AuditEvent
from apps.jobs import services
from apps.jobs.models import Job, JobEvent
from apps.jobs.tasks import run_job

from .. import processes
from ..conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]


def test_reaper_fails_a_job_whose_worker_was_killed(make_user):
    user = make_user("ops", "jobs.run_diagnostics")
    # A worker of its own on a private queue, so killing it leaves the suite's worker alone.
    worker = processes.start_worker("doomed-worker", queues="reaper-test", concurrency=1)
    try:
        job = Job.objects.create(kind="core.pulse", params={"count": 100000, "rate": 20}, requester=user,
                                 queue="reaper-test", celery_task_id="reaper-test-task")
        run_job.apply_async(args=[job.pk], queue="reaper-test", task_id=job.celery_task_id)
        wait_for(lambda: JobEvent.objects.filter(job=job, kind="log").count() >= 5, message="job running")
        assert Job.objects.get(pk=job.pk).status == "running"
        # A job with a fresh heartbeat is not touched.
        assert services.reap_stale_jobs(timeout=5) == []
        worker.kill()  # SIGKILL to the whole process group: no cleanup code runs
    finally:
        worker.stop()
    time.sleep(2.5)
    assert Job.objects.get(pk=job.pk).status == "running"  # nothing else noticed the death
    assert services.reap_stale_jobs(timeout=2) == [job.pk]
    job.refresh_from_db()
    assert job.status == "failed" and job.finished_at is not None
    assert "doomed-worker" in job.error and "stopped responding" in job.error
    assert JobEvent.objects.filter(job=job, kind="status", message="failed").exists()
    assert AuditEvent.objects.filter(action="job.reap", object_id=str(job.pk)).exists()
    # Reaping twice changes nothing.
    assert services.reap_stale_jobs(timeout=2) == []


def test_reaper_runs_in_beat_not_on_a_worker_queue():
    """The reconciler (which reaps) is started by beat itself; no beat entry sends it to a worker."""
    from celery import signals

    import aimatrix.celery  # noqa: F401  (connects the signal)

    assert not any(entry["task"] == "apps.jobs.tasks.reap_stale_jobs" for entry in settings.CELERY_BEAT_SCHEDULE.values())
    assert any(getattr(receiver(), "__name__", "") == "_start_job_reconciler" or
               getattr(receiver, "__name__", "") == "_start_job_reconciler"
               for _, receiver in signals.beat_init.receivers)
