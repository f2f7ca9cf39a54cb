"""Beat tasks of the allocations app: thin, they call lifecycle and binding."""
from celery import shared_task


@shared_task(name="apps.allocations.tasks.sweep", ignore_result=True, soft_time_limit=50, time_limit=60)
def sweep():
    """Start, expire and remind allocations whose time has come; retry fleet bindings that lag."""
    from .binding import retry_due
    from .lifecycle import sweep as run

    done = run()
    done["bindings"] = retry_due()
    return done


@shared_task(name="apps.allocations.tasks.bind", ignore_result=True, soft_time_limit=120, time_limit=150)
def bind(allocation_id: int):
    """Bind an allocation to the fleet (Slurm reservation, SSH keys) or remove its bindings."""
    from .binding import sync

    return sync(allocation_id)
