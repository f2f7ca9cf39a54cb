"""The health beat: one `scontrol show node` per cluster; a `clusters.health` job (as the system)
for a cluster with nodes Slurm took out of service that the portal can reach (a known machine),
unless one is queued or running, or one failed within REPAIR_BACKOFF (a node that does not come
back is said once, not every cycle); and the GPU drain's catch-up (gpu_drain.reconcile)."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.core.contenttypes import content_type_for
from apps.jobs.models import Job, JobStatus
from apps.jobs.services import start_job

from . import connection, gpu_drain, node_health
from .models import Cluster, ClusterStatus
from .slurm.errors import SlurmError
from .system_actor import SYSTEM


REPAIR_BACKOFF = timedelta(minutes=10)


def _repair_pending(cluster: Cluster) -> bool:
    jobs = Job.objects.filter(kind="clusters.health", target_type=content_type_for(Cluster), target_id=str(cluster.pk))
    return (jobs.filter(status__in=JobStatus.active()).exists()
            or jobs.filter(status=JobStatus.FAILED, finished_at__gte=timezone.now() - REPAIR_BACKOFF).exists())


def sweep() -> dict:
    out = {}
    for cluster in Cluster.objects.select_related("controller").exclude(
            status__in=[ClusterStatus.NEW, ClusterStatus.DISCOVERING]):
        try:
            client = connection.controller_client(cluster, purpose="beat clusters.node_health")
            troubled = [sn.name for sn in node_health.candidates(client)]
            found = list(cluster.members.filter(slurm_name__in=troubled, node__isnull=False)
                         .order_by("slurm_name").values_list("slurm_name", flat=True))
            drains = gpu_drain.reconcile(cluster)
        except SlurmError as exc:
            out[cluster.name] = f"unreachable: {exc}"
            continue
        if found and not _repair_pending(cluster):
            job = start_job(SYSTEM, "clusters.health", {"cluster": cluster.pk, "nodes": found}, target=cluster)
            out[cluster.name] = {"repair_job": job.pk, "nodes": found, "gpu_drain": drains}
        else:
            out[cluster.name] = {"nodes": found, "unknown_machines": sorted(set(troubled) - set(found)),
                                 "gpu_drain": drains}
    return out
