"""Beat tasks of the clusters app: thin, they call the modules that do the work."""
from celery import shared_task
from django.conf import settings

_SYNC_LIMIT = settings.SLURM_SYNC_BUDGET + settings.SLURM_SYNC_TIMEOUT + 15


@shared_task(name="apps.clusters.tasks.sync_queues", ignore_result=True, soft_time_limit=_SYNC_LIMIT,
             time_limit=_SYNC_LIMIT + 15)
def sync_queues():
    """Every cluster's queue in one SSH round trip each (bounded parallelism, one deadline each)."""
    from .jobs_sync import sync_all

    return sync_all()


@shared_task(name="apps.clusters.tasks.check_idle_gpu_jobs", ignore_result=True, soft_time_limit=200,
             time_limit=230)
def check_idle_gpu_jobs():
    """An event for each running job holding GPUs idle for the configured time."""
    from .efficiency import publish_idle

    return {"published": publish_idle()}


@shared_task(name="apps.clusters.tasks.node_health", ignore_result=True, soft_time_limit=120, time_limit=140)
def node_health():
    """Nodes Slurm took out of service: a repair job per cluster that has some; GPU drains caught up."""
    from .health_sweep import sweep

    return sweep()


@shared_task(name="apps.clusters.tasks.gpu_drain", ignore_result=True, soft_time_limit=60, time_limit=75)
def gpu_drain(member_id: int):
    """Drain (or resume) one cluster node after its GPU health changed."""
    from .gpu_drain import sync_member

    return sync_member(member_id)


@shared_task(name="apps.clusters.tasks.accounting_drift", ignore_result=True, soft_time_limit=300, time_limit=330)
def accounting_drift():
    """The drift check (ColdFront's slurm_check): what sacctmgr would change, per project account."""
    from .accounting_sync import check_all

    return check_all()


@shared_task(name="apps.clusters.tasks.prune_samples", ignore_result=True, soft_time_limit=120, time_limit=140)
def prune_samples():
    """Cluster samples older than CLUSTER_SAMPLE_RETENTION_DAYS (the charts' history)."""
    from .history import prune

    return {"deleted": prune()}
