"""Automatic drain on GPU health (NVIDIA Base Command Manager's idea): a node whose GPU turns
failed is drained in its Slurm cluster with the reason in Slurm ("aimatrix: GPU 2 failed: XID 79
..."); when all its GPUs are healthy again and the drain was ours, it is resumed.

The GPU app's `gpu_health_changed` hook (sent after commit) only queues a task; the task does the
Slurm work (`sync_member`), which is idempotent: it compares what the node's GPUs call for with
what Slurm shows and does only the difference. An operator's own drain is never overwritten or
resumed. The health beat runs the same reconciliation, so a lost task is caught up.
"""
from __future__ import annotations

import logging
import re

from django.db import transaction

from apps.events.models import EventType, Severity
from apps.events.publish import publish
from apps.gpus.models import Gpu, GpuHealth

from . import connection, node_states
from .models import ClusterNode
from .node_health import PORTAL_REASON_PREFIX
from .slurm import NodeAction, NodeFlag
from .slurm.errors import SlurmError

logger = logging.getLogger(__name__)
MAX_REASON = 200
_UNSAFE = re.compile(r"[\x00-\x1f\x7f=|\u2028\u2029]+")


class Outcome:
    DRAINED = "drained"
    RESUMED = "resumed"
    ALREADY = "already as it should be"
    OPERATOR = "drained by an operator: left alone"
    NOT_IN_CLUSTER = "not a cluster node"


def drain_reason(failed: list[Gpu]) -> str:
    """'aimatrix: GPU 2 failed: XID 79 (GPU has fallen off the bus)': one line Slurm stores as is."""
    indexes = ", ".join(str(g.index) for g in failed)
    first = failed[0].health_reason or "failed"
    text = f"{PORTAL_REASON_PREFIX} GPU {indexes} failed: {first}"
    return _UNSAFE.sub(" ", text).strip()[:MAX_REASON].strip()


def failed_gpus(member: ClusterNode) -> list[Gpu]:
    if member.node_id is None:
        return []
    return list(Gpu.objects.filter(node_id=member.node_id, health=GpuHealth.FAILED).order_by("index", "pk"))


def _event(member: ClusterNode, message: str, severity: str, **data) -> None:
    obj = member.node if member.node_id else member.cluster
    publish(EventType.NODE_HEALTH_CHANGED, obj, message[:500],
            {"cluster": member.cluster_id, "slurm_node": member.slurm_name, **data}, severity=severity)


def sync_member(member_id: int, *, actor=None) -> str:
    """Make Slurm match the node's GPU health (drain / resume / nothing); returns the outcome.
    Serialized per node by a row lock, so two GPUs failing at once drain it once."""
    with transaction.atomic():
        member = (ClusterNode.objects.select_for_update(of=("self",)).select_related("cluster__controller", "node")
                  .filter(pk=member_id).first())
        if member is None:
            return Outcome.NOT_IN_CLUSTER
        failed = failed_gpus(member)
        if not failed and not member.drained_by_portal:
            return Outcome.ALREADY  # the common case: no Slurm call at all
        client = connection.controller_client(member.cluster, purpose="GPU health drain", actor=actor)
        found = client.nodes([member.slurm_name])
        if not found:
            return Outcome.NOT_IN_CLUSTER
        sn = found[0]
        drained = NodeFlag.DRAIN in sn.state.flags
        ours = sn.reason.startswith(PORTAL_REASON_PREFIX)
        if failed:
            reason = drain_reason(failed)
            if drained and not ours:
                return Outcome.OPERATOR
            if drained and member.drained_by_portal and sn.reason == reason:
                return Outcome.ALREADY
            client.update_nodes([member.slurm_name], NodeAction.DRAIN, reason)
            ClusterNode.objects.filter(pk=member.pk).update(drained_by_portal=True)
            node_states.store_states(member.cluster, client.nodes([member.slurm_name]))
            _event(member, f"{member}: drained in Slurm: {reason}", Severity.WARNING, action="drain", reason=reason,
                   gpus=[g.pk for g in failed])
            return Outcome.DRAINED
        # Healthy again and the drain was ours: resume, unless an operator has since re-drained it.
        ClusterNode.objects.filter(pk=member.pk).update(drained_by_portal=False)
        if not (drained and ours):
            return Outcome.ALREADY
        client.update_nodes([member.slurm_name], NodeAction.RESUME)
        node_states.store_states(member.cluster, client.nodes([member.slurm_name]))
        _event(member, f"{member}: resumed in Slurm: its GPUs are healthy again", Severity.INFO, action="resume")
        return Outcome.RESUMED


def queue_sync(member_id: int) -> None:
    from .tasks import gpu_drain

    try:
        gpu_drain.apply_async(args=[member_id], queue="slurm")
    except Exception:  # noqa: BLE001 - the broker is down: the health beat reconciles later
        logger.exception("clusters: could not queue the GPU drain of cluster node %s", member_id)


def on_gpu_health_changed(sender, gpu: Gpu, before: str, after: str, reason: str = "", **kwargs) -> None:
    """The GPU app's hook: only a change into or out of `failed` matters; queue the Slurm work."""
    if GpuHealth.FAILED not in (before, after):
        return
    member_id = ClusterNode.objects.filter(node_id=gpu.node_id).values_list("pk", flat=True).first()
    if member_id is not None:
        transaction.on_commit(lambda: queue_sync(member_id))


def reconcile(cluster) -> dict:
    """The beat's catch-up: every node of the cluster with a failed GPU or a drain of ours."""
    from django.db.models import Exists, OuterRef, Q

    failed = Gpu.objects.filter(node_id=OuterRef("node_id"), health=GpuHealth.FAILED)
    ids = cluster.members.filter(Q(Exists(failed)) | Q(drained_by_portal=True)).values_list("pk", flat=True)
    out = {}
    for member_id in ids:
        try:
            out[member_id] = sync_member(member_id)
        except SlurmError as exc:
            out[member_id] = f"failed: {exc}"
    return out


def connect() -> None:
    from apps.gpus.signals import gpu_health_changed

    gpu_health_changed.connect(on_gpu_health_changed, dispatch_uid="clusters.gpu_drain")
