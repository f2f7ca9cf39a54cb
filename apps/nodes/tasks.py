from celery import shared_task


@shared_task(name="apps.nodes.tasks.poll_power_states", ignore_result=True)
def poll_power_states():
    from .power_poll import poll_power_states as poll

    return poll()
