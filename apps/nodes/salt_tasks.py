"""Beat: refresh every Salt master's key list and ping its accepted minions, bounded: each master
gets at most SALT_REFRESH_BUDGET seconds (the client's own deadlines cut salt-api calls), and the
task's time limits are the backstop. Reported enrollments without an issuer (HMAC) are accepted
here when the master's pending key is the reported one."""
from celery import shared_task
from django.conf import settings

_BUDGET = getattr(settings, "SALT_REFRESH_BUDGET", 40.0)


@shared_task(name="apps.nodes.salt_tasks.refresh_salt_masters", ignore_result=True,
             soft_time_limit=_BUDGET * 3 + 30, time_limit=_BUDGET * 3 + 45)
def refresh_salt_masters():
    from apps.core import deadline as deadlines

    from .salt_jobs import refresh_master
    from .salt_models import SaltMaster

    out = {}
    for master in SaltMaster.objects.all()[:3]:  # bounded: a portal has one or a few masters
        with deadlines.within(_BUDGET, f"salt refresh of {master.name}"):
            out[master.name] = refresh_master(master, actor="beat nodes.refresh_salt_masters")
    return out
