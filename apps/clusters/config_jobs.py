"""The apply-configuration job of managed clusters (queue slurm) and the service that starts it."""
from __future__ import annotations

from django.conf import settings
from django.db import transaction

from apps.core.audit import record_audit
from apps.core.errors import Conflict
from apps.jobs.models import Job, JobStatus
from apps.jobs.registry import register
from apps.jobs.runner import JobFailed
from apps.jobs.services import start_job

from . import config_apply, connection
from .job_kinds import ClusterParams, authorize, cluster_of
from .models import Cluster

MANAGE_PERMISSION = config_apply.MANAGE_PERMISSION
KIND = "clusters.apply_config"


def start_apply(actor, cluster):
    """Start `clusters.apply_config` for a managed cluster (refused for reuse_config clusters)."""
    config_apply.check_may_manage(actor, cluster)
    config_apply.check_writable(cluster)
    config_apply.render(cluster)  # what cannot be rendered is refused now, naming the field
    with transaction.atomic():
        Cluster.objects.select_for_update().filter(pk=cluster.pk).first()  # one start at a time per cluster
        running = Job.objects.filter(kind=KIND, params__cluster=cluster.pk,
                                     status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).first()
        if running is not None:  # two applies at once would back up and restore each other's files
            raise Conflict(f"Job #{running.pk} is applying the configuration of {cluster.name} already.")
        job = start_job(actor, KIND, {"cluster": cluster.pk}, target=cluster, audit=False)
        record_audit("cluster.config.apply", actor=actor, obj=cluster, after={"job": job.pk})
    return job


@register(KIND, label="Apply a managed cluster's Slurm configuration",
          permission=MANAGE_PERMISSION, params=ClusterParams, queue="slurm", authorize=authorize("manage"),
          time_limit=600)
def apply_config(runner, params, target):
    """Render slurm.conf and gres.conf, diff against the live files, back up, write atomically,
    reconfigure or restart slurmctld, verify; on failure restore the backups and say why."""
    cluster = cluster_of(params)
    client = connection.controller_client(cluster, purpose=f"job {runner.job_id} apply configuration",
                                          actor=runner.job.requester)
    try:
        result = config_apply.apply(cluster, client, log=runner.log, step=runner.step, actor=runner.job.requester,
                                    sleep=runner.waiting("nodes to respond", settings.SLURM_APPLY_VERIFY_TIMEOUT))
    except config_apply.ApplyFailed as exc:
        raise JobFailed(f"{cluster.name}: {exc}") from None
    runner.progress(100)
    return result
