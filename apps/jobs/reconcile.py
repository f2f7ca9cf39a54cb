"""The job reconciler: no job stays queued or running for nothing.

It runs inside the Celery beat process, in a thread started when beat starts
(aimatrix/celery.py connects `beat_init`), every settings.JOBS_RECONCILE_INTERVAL seconds. Not a
task on a worker queue: with every worker dead there would be nobody to run it. Beat is a single
process by design; a second reconciler would do no harm (every change is a conditional update).

Each pass:
1. Running jobs whose heartbeat is older than JOBS_HEARTBEAT_TIMEOUT are failed with the reason
   (services.reap_stale_jobs): their worker was killed, ran out of memory or lost its machine.
2. Messages reserved by a worker for longer than JOBS_RECONCILE_GRACE that no live worker reports
   holding (its worker died) go back to their queue at once instead of after the broker's
   visibility timeout (an hour). A live worker then runs the job if it was still queued, or
   fails it if it was running (execution.settle_redelivery).
3. Queued jobs older than the grace whose task is nowhere in the broker (Redis restarted without
   its data, or the process died between saving the job and sending the task) are queued again;
   after JOBS_MAX_REQUEUES losses they are failed instead. Each re-queue is logged on the job.
4. A queued job whose queue no live worker consumes says so in its log, once (it keeps waiting:
   its task is safe in the queue; /api/health names the queue).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.core import health

from . import broker_state, services
from .broadcast import publisher
from .events import append_event
from .execution import finish
from .models import EventKind, Job, JobEvent, JobStatus

logger = logging.getLogger(__name__)


@dataclass
class Report:
    failed_stale: list[int] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # task ids put back on their queue
    requeued: list[int] = field(default_factory=list)
    failed_lost: list[int] = field(default_factory=list)
    no_consumer: list[int] = field(default_factory=list)  # queued jobs told that nobody consumes their queue
    broker_error: str = ""

    def changed(self) -> bool:
        return bool(self.failed_stale or self.restored or self.requeued or self.failed_lost or self.no_consumer)


def reconcile() -> Report:
    from aimatrix.celery import app

    report = Report(failed_stale=services.reap_stale_jobs())
    grace = settings.JOBS_RECONCILE_GRACE
    queues = sorted(set(settings.JOBS_QUEUES) | set(
        Job.objects.filter(status=JobStatus.QUEUED).values_list("queue", flat=True).distinct()))
    try:
        state = broker_state.read(app, queues)
        if state is None:
            return report  # not a Redis broker: only heartbeats are checked
        old = [r for r in state.reserved if r.since < time.time() - grace]
        held = broker_state.held_by_live_workers(app, [r.task_id for r in old],
                                                 settings.JOBS_RECONCILE_INSPECT_TIMEOUT)
        orphans = [r for r in old if r.task_id not in held]
        for orphan in orphans:
            _put_back(app, orphan, report)
    except Exception as exc:  # noqa: BLE001 - broker down: heartbeats were still checked
        report.broker_error = f"{type(exc).__name__}: {exc}"
        logger.warning("job reconciler cannot read the broker: %s", report.broker_error)
        return report
    cutoff = timezone.now() - timedelta(seconds=grace)
    lost = (Job.objects.filter(status=JobStatus.QUEUED, cancel_requested=False, created_at__lt=cutoff)
            .exclude(celery_task_id__in=[r.task_id for r in orphans]))
    for job in lost.only("pk", "kind", "params", "queue", "celery_task_id"):
        if not state.holds(job.celery_task_id):
            _requeue_or_fail(job, "its task was in no queue and held by no worker (lost with a Redis restart, "
                                  "or never sent)", report)
    _say_when_nobody_consumes(cutoff, report)
    return report


def _say_when_nobody_consumes(cutoff, report: Report) -> None:
    """A job waiting on a queue that no live worker consumes says so on its page, once."""
    waiting = (Job.objects.filter(status=JobStatus.QUEUED, created_at__lt=cutoff)
               .exclude(events__data__has_key="no_consumer").values_list("pk", "queue"))
    waiting = list(waiting[:1000])
    if not waiting:
        return
    survey = health.survey_workers(settings.JOBS_RECONCILE_INSPECT_TIMEOUT, stop_when_covered=True)
    consumed = {queue for queues in survey.values() for queue in queues}
    for pk, queue in waiting:
        if queue not in consumed:
            append_event(pk, EventKind.LOG, f"No running worker consumes the queue '{queue}': the job waits until "
                                            f"one does (start a worker with -Q {queue}; /api/health lists such queues).",
                         data={"level": "warning", "no_consumer": queue})
            report.no_consumer.append(pk)


def _put_back(app, orphan: broker_state.Reserved, report: Report) -> None:
    job = Job.objects.filter(celery_task_id=orphan.task_id).only("pk", "status").first()
    if job is not None and job.status == JobStatus.QUEUED:
        if _requeues(job.pk) >= settings.JOBS_MAX_REQUEUES:
            _give_up(job.pk, "the workers that took it died", report)
        else:
            _log_requeue(job.pk, f"Put back on its queue: the worker that had taken it "
                                 f"{time.time() - orphan.since:.0f} s ago is gone.")
            report.requeued.append(job.pk)
    broker_state.restore(app, orphan.tag)
    report.restored.append(orphan.task_id)


def _requeue_or_fail(job: Job, why: str, report: Report) -> None:
    if _requeues(job.pk) >= settings.JOBS_MAX_REQUEUES:
        _give_up(job.pk, why, report)
        return
    _log_requeue(job.pk, f"Queued again on '{job.queue}': {why}.")
    services.enqueue(job)
    report.requeued.append(job.pk)


def _requeues(job_id: int) -> int:
    return JobEvent.objects.filter(job_id=job_id, kind=EventKind.LOG, data__has_key="requeued").count()


def _log_requeue(job_id: int, message: str) -> None:
    append_event(job_id, EventKind.LOG, message, data={"level": "warning", "requeued": True})


def _give_up(job_id: int, why: str, report: Report) -> None:
    reason = (f"Its task was lost {settings.JOBS_MAX_REQUEUES + 1} times ({why}); "
              f"it was not queued again. Check the workers and the broker, then retry it.")
    if finish(job_id, JobStatus.FAILED, error=reason, from_statuses=(JobStatus.QUEUED,)):
        report.failed_lost.append(job_id)


# --- the loop beat runs ---------------------------------------------------------------
def run_forever(stop: threading.Event, interval: float | None = None) -> None:
    interval = interval or settings.JOBS_RECONCILE_INTERVAL
    logger.info("job reconciler: every %g s", interval)
    while True:
        try:
            report = reconcile()
            if report.changed():
                logger.warning("job reconciler: %s", report)
            publisher.flush()
        except Exception:  # noqa: BLE001 - one bad pass (database restarting) must not end the loop
            logger.exception("job reconciler pass failed")
        finally:
            connection.close()  # this thread's own; a database restart costs one reconnect
        if stop.wait(interval):
            return


_started: threading.Event | None = None


def start_in_background() -> threading.Event:
    """Start the loop in a daemon thread of this process once; returns the event that stops it."""
    global _started
    if _started is None:
        _started = threading.Event()
        threading.Thread(target=run_forever, args=(_started,), name="job-reconciler", daemon=True).start()
    return _started
