"""Accounting jobs on the `slurm` queue: apply the sacctmgr diff, check drift."""
from __future__ import annotations

from rest_framework import serializers

from apps.core.errors import ServiceError
from apps.jobs.registry import register
from apps.jobs.runner import JobFailed

from . import accounting_sync
from .models import Cluster
from .node_jobs import MANAGE, authorize_manage
from .slurm.errors import SlurmError


class AccountingParams(serializers.Serializer):
    cluster = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


def _cluster(params) -> Cluster:
    return Cluster.objects.select_related("controller").get(pk=params["cluster"])


@register("clusters.accounting_apply", label="Apply Slurm accounts and limits (sacctmgr)", permission=MANAGE,
          params=AccountingParams, queue="slurm", authorize=authorize_manage, time_limit=600)
def accounting_apply(runner, params, target):
    """Project accounts, their members and limits into Slurm: the dry run's commands, run in order
    (stops at the first refusal, naming it); then the drift check."""
    cluster = _cluster(params)
    runner.step(f"Comparing {cluster.name}'s accounting with the portal")
    try:
        found = accounting_sync.apply(cluster, actor=runner.job.requester, purpose=f"job {runner.job_id} sacctmgr",
                                      log=runner.log)
    except (SlurmError, ServiceError) as exc:
        raise JobFailed(f"{cluster.name}: {exc}") from None
    for note in found.notes:
        runner.log(note, level="warning")
    runner.progress(100)
    runner.log(f"{len(found.commands)} sacctmgr command(s) run" if found.commands else "Already in sync")
    return {"commands": [c.summary for c in found.commands]}


@register("clusters.accounting_check", label="Check Slurm accounting drift", permission=MANAGE,
          params=AccountingParams, queue="slurm", authorize=authorize_manage, time_limit=300)
def accounting_check(runner, params, target):
    """What sacctmgr would still change, stored per project account (empty: in sync)."""
    cluster = _cluster(params)
    runner.step(f"Checking {cluster.name}'s accounting")
    try:
        found = accounting_sync.check(cluster, actor=runner.job.requester, purpose=f"job {runner.job_id} drift")
    except (SlurmError, ServiceError) as exc:
        raise JobFailed(f"{cluster.name}: {exc}") from None
    for cmd in found.commands:
        runner.log(f"drift: {cmd.summary}", level="warning")
    runner.progress(100)
    return {"drift": len(found.commands), "in_sync": not found.commands}
