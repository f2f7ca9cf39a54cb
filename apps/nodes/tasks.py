from celery import shared_task
from django.conf import settings

# The round bounds itself (budget deadline, one round at a time: power_poll.py); the time limits
# are the backstop should anything in it ever block outside a deadline.
_POLL_LIMIT = settings.NODES_POWER_POLL_BUDGET + 30


@shared_task(name="apps.nodes.tasks.poll_power_states", ignore_result=True,
             soft_time_limit=_POLL_LIMIT, time_limit=_POLL_LIMIT + 15)
def poll_power_states():
    from .power_poll import poll_power_states as poll

    return poll()
