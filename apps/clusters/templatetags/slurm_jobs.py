"""The "Queue" section a cluster's page includes: `{% load slurm_jobs %}{% cluster_queue cluster %}`."""
from django import template

from ..job_actions import visible_jobs
from ..models import ACTIVE_JOB_STATES
from ..submit import may_submit

register = template.Library()
QUEUE_ROWS = 15


@register.inclusion_tag("clusters/jobs/_queue.html", takes_context=True)
def cluster_queue(context, cluster):
    user = context["request"].user
    jobs = visible_jobs(user).filter(cluster=cluster, state__in=ACTIVE_JOB_STATES).defer("script", "gpu_efficiency")
    return {"cluster": cluster, "queue_jobs": list(jobs.order_by("-id")[:QUEUE_ROWS]),
            "may_submit": may_submit(user, cluster)}
