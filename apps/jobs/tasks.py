"""Celery tasks: thin; they take ids and call services.

run_job is acknowledged late and put back on worker loss (settings CELERY_TASK_ACKS_LATE,
CELERY_TASK_REJECT_ON_WORKER_LOST, set here too so the rule holds whatever the settings say);
execution.execute claims the Job row, so a task delivered twice never runs a job twice.
"""
from celery import Task, shared_task
from celery.exceptions import TimeLimitExceeded


class JobTask(Task):
    acks_late = True
    reject_on_worker_lost = True

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # A hard time limit kills the pool process; the worker's main process reports it here.
        if isinstance(exc, TimeLimitExceeded) and args:
            from .execution import fail_after_hard_limit

            fail_after_hard_limit(args[0], exc)


@shared_task(name="apps.jobs.tasks.run_job", ignore_result=True, bind=True, base=JobTask)
def run_job(self, job_id: int):
    from .execution import execute

    return execute(job_id, worker=self.request.hostname)


@shared_task(name="apps.jobs.tasks.reap_stale_jobs", ignore_result=True)
def reap_stale_jobs():
    """Kept for schedules stored by older versions; the reconciler in beat does this now."""
    from .services import reap_stale_jobs as reap

    return reap()
