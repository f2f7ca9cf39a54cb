"""Beat tasks of the allocations app: thin, they call lifecycle."""
from celery import shared_task


@shared_task(name="apps.allocations.tasks.sweep", ignore_result=True, soft_time_limit=50, time_limit=60)
def sweep():
    """Start, expire and remind allocations whose time has come."""
    from .lifecycle import sweep as run

    return run()
