"""Beat tasks of the GPU app: thin, they call the modules that do the work."""
from celery import shared_task
from django.conf import settings

_COLLECT_LIMIT = max(60, settings.GPU_COLLECT_INTERVAL * 3)


@shared_task(name="apps.gpus.tasks.maintain_partitions", ignore_result=True, soft_time_limit=300, time_limit=330)
def maintain_partitions():
    from . import partitions, rollups

    return {**partitions.maintain(), "rollups_dropped": rollups.drop_old()}


@shared_task(name="apps.gpus.tasks.rollup", ignore_result=True, soft_time_limit=50, time_limit=58)
def rollup():
    from . import rollups

    return rollups.roll_recent()


@shared_task(name="apps.gpus.tasks.collect_agentless", ignore_result=True, soft_time_limit=_COLLECT_LIMIT,
             time_limit=_COLLECT_LIMIT + 15)
def collect_agentless():
    from .collect import agentless_nodes, collect

    return collect(agentless_nodes(), purpose="beat gpus.collect_agentless")
