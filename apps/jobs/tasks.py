"""Celery tasks: thin; they take ids and call services."""
from celery import shared_task


@shared_task(name="apps.jobs.tasks.run_job", ignore_result=True, bind=True)
def run_job(self, job_id: int):
    from .execution import execute

    return execute(job_id, worker=self.request.hostname)


@shared_task(name="apps.jobs.tasks.reap_stale_jobs", ignore_result=True)
def reap_stale_jobs():
    from .services import reap_stale_jobs as reap

    return reap()
