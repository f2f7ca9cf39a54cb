"""The health beat: one `scontrol show node` per cluster; a `clusters.health` job (as the system)
for a cluster with nodes Slurm took out of service, unless one is already queued or running;
and the GPU drain's catch-up (gpu_drain.reconcile)."""
from __future__ import annotations

import logging

from apps.core.contenttypes import content_type_for
from apps.jobs.models import Job, JobStatus
from apps.jobs.services import start_job

from . import connection, gpu_drain, node_health
from .models import Cluster, ClusterStatus
from .slurm.errors import SlurmError
from .system_actor import SYSTEM

logger = logging.getLogger(__name__)


def _repair_running(cluster: Cluster) -> bool:
    return Job.objects.filter(kind="clusters.health", target_type=content_type_for(Cluster),
                              target_id=str(cluster.pk), status__in=JobStatus.active()).exists()


def sweep() -> dict:
    out = {}
    for cluster in Cluster.objects.select_related("controller").exclude(
            status__in=[ClusterStatus.NEW, ClusterStatus.DISCOVERING]):
        try:
            client = connection.controller_client(cluster, purpose="beat clusters.node_health")
            found = [sn.name for sn in node_health.candidates(client)]
            drains = gpu_drain.reconcile(cluster)
        except SlurmError as exc:
            out[cluster.name] = f"unreachable: {exc}"
            continue
        if found and not _repair_running(cluster):
            job = start_job(SYSTEM, "clusters.health", {"cluster": cluster.pk, "nodes": found}, target=cluster)
            out[cluster.name] = {"repair_job": job.pk, "nodes": found, "gpu_drain": drains}
        else:
            out[cluster.name] = {"nodes": found, "gpu_drain": drains}
    return out
