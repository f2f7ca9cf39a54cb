"""Cluster jobs (the `slurm` queue): discovery and refresh. Later kinds (apply configuration,
node states, health, accounting) register here too."""
from __future__ import annotations

from rest_framework import serializers

from apps.core.errors import Forbidden, InvalidInput
from apps.jobs.registry import register
from apps.jobs.runner import JobFailed
from apps.rbac.permissions import can

from .models import Cluster
from .slurm.errors import SlurmError


class ClusterParams(serializers.Serializer):
    cluster = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


def cluster_of(params) -> Cluster:
    return Cluster.objects.select_related("controller", "login_node").get(pk=params["cluster"])


def authorize(action: str):
    def check(user, params):
        cluster = Cluster.objects.filter(pk=params["cluster"]).first()
        if cluster is None or not can(user, cluster, "view"):
            raise InvalidInput({"cluster": ["Unknown cluster."]})
        if not can(user, cluster, action):
            raise Forbidden(f"You may not {action} cluster {cluster.name}.")
    return check


@register("clusters.discover", label="Discover a Slurm cluster", permission="clusters.change_cluster",
          params=ClusterParams, queue="slurm", authorize=authorize("change"), time_limit=120)
def discover(runner, params, target):
    """Reads version, configuration, partitions, nodes and queue length from the controller over SSH
    and stores them (external clusters mirror Slurm; managed ones keep their wished rows)."""
    from . import services

    cluster = cluster_of(params)
    runner.step(f"Reading {cluster.name} from {cluster.controller.name}")
    try:
        changes = services.discover(cluster, actor=runner.job.requester, purpose=f"job {runner.job_id} discovery")
    except SlurmError as exc:
        raise JobFailed(f"{cluster.name}: {exc}") from None
    cluster.refresh_from_db()
    runner.progress(100)
    runner.log(f"Slurm {cluster.slurm_version}, ClusterName={cluster.slurm_cluster_name}, "
               f"{cluster.summary.get('nodes', 0)} node(s), {cluster.partitions.count()} partition(s); "
               f"status {cluster.get_status_display().lower()}")
    return {"changes": changes, "status": cluster.status, "summary": cluster.summary}
