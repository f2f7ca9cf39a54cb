"""Clusters: what a user may see, test-connection, connect, refresh, live info and forget.

Every entry point (API, pages, admin) calls these; each checks permission, validates, audits.
Nothing here ever changes an external cluster: `forget` only removes the portal's rows.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.core.audit import record_audit
from apps.core.errors import Forbidden, InvalidInput
from apps.jobs.services import start_job
from apps.nodes.models import Node
from apps.rbac.permissions import can, restrict

from . import connection, discovery
from .models import Cluster, ClusterKind, ClusterStatus
from .slurm.errors import SlurmError

AUDITED = ["name", "kind", "description", "controller_id", "login_node_id", "project_id", "reuse_config",
           "reuse_munge", "reuse_database", "conf_path", "base_config_path", "restart_command",
           "slurmd_restart_command", "gres_file_pattern"]
INFO_TIMEOUT_NOTE = "live figures could not be read; showing the last sync"


def visible_clusters(user, action: str = "view"):
    return restrict(Cluster.objects.select_related("controller", "login_node", "project"), user, action)


def _fields(cluster: Cluster) -> dict:
    return {name: getattr(cluster, name) for name in AUDITED}


def _usable_node(actor, node: Node | None, field: str) -> Node | None:
    """The controller / login node: one the actor may run jobs on (404-like refusal otherwise)."""
    if node is None:
        return None
    if not can(actor, node, "use"):
        raise InvalidInput({field: ["Unknown node, or one you may not use."]})
    return node


def test_connection(actor, *, controller: Node, login_node: Node | None = None) -> dict:
    """SSH to the controller: `scontrol --version`, `scontrol show config`, `scontrol show node`,
    `scontrol show partition`; a preview of the cluster. Saves nothing (no audit either)."""
    if not actor.has_perm("clusters.add_cluster"):
        raise Forbidden("You may not connect clusters.")
    _usable_node(actor, controller, "controller")
    _usable_node(actor, login_node, "login_node")
    client = connection.slurm_on(controller, purpose="cluster test-connection", actor=actor)
    try:
        return {"ok": True, **discovery.preview(discovery.read(client))}
    except SlurmError as exc:
        return {"ok": False, "error": str(exc)}


def connect(actor, *, name: str, controller: Node, kind: str = ClusterKind.EXTERNAL, login_node: Node | None = None,
            project=None, description: str = "", reuse_config: bool = True, reuse_munge: bool = True,
            reuse_database: bool = True, **managed) -> tuple[Cluster, object]:
    """Save the cluster and start its discovery job; returns (cluster, job)."""
    if not actor.has_perm("clusters.add_cluster"):
        raise Forbidden("You may not connect clusters.")
    _usable_node(actor, controller, "controller")
    _usable_node(actor, login_node, "login_node")
    if project is not None and not (actor.has_perm("rbac.unrestricted") or can(actor, project, "change")):
        raise InvalidInput({"project": ["Unknown project, or one you may not add to."]})
    if Cluster.objects.filter(name=name).exists():
        raise InvalidInput({"name": [f"A cluster named {name} exists already."]})
    if kind == ClusterKind.EXTERNAL:
        managed = {}
    cluster = Cluster(name=name, kind=kind, controller=controller, login_node=login_node, project=project,
                      description=description, reuse_config=reuse_config, reuse_munge=reuse_munge,
                      reuse_database=reuse_database, status=ClusterStatus.DISCOVERING, **managed)
    if kind == ClusterKind.MANAGED:
        cluster.reuse_config = cluster.reuse_munge = False
    try:
        cluster.full_clean()
    except ValidationError as exc:
        raise InvalidInput(exc.message_dict) from None
    with transaction.atomic():
        cluster.save()
        job = start_job(actor, "clusters.discover", {"cluster": cluster.pk}, target=cluster, audit=False)
        record_audit("cluster.connect" if kind == ClusterKind.EXTERNAL else "cluster.create", actor=actor,
                     obj=cluster, after={**_fields(cluster), "discovery_job": job.pk})
    return cluster, job


def update_cluster(actor, cluster: Cluster, **changes) -> Cluster:
    if not can(actor, cluster, "change"):
        raise Forbidden("You may not change this cluster.")
    before = _fields(cluster)
    for key, value in changes.items():
        setattr(cluster, key, value)
    try:
        cluster.full_clean()
    except ValidationError as exc:
        raise InvalidInput(exc.message_dict) from None
    with transaction.atomic():
        cluster.save()
        record_audit("cluster.update", actor=actor, obj=cluster, before=before, after=_fields(cluster))
    return cluster


def refresh(actor, cluster: Cluster):
    """Rediscover (a job): version, configuration, partitions, nodes."""
    if not can(actor, cluster, "change"):
        raise Forbidden("You may not refresh this cluster.")
    return start_job(actor, "clusters.discover", {"cluster": cluster.pk}, target=cluster)


def discover(cluster: Cluster, *, actor=None, purpose: str = "cluster discovery") -> dict:
    """Read the cluster over SSH and store it; a failure leaves the rows and says why."""
    client = connection.controller_client(cluster, purpose=purpose, actor=actor)
    try:
        snapshot = discovery.read(client)
        queue = len(client.queue())
    except SlurmError as exc:
        Cluster.objects.filter(pk=cluster.pk).update(status=ClusterStatus.UNREACHABLE, status_reason=str(exc)[:500],
                                                     updated_at=timezone.now())
        raise
    return discovery.apply(cluster, snapshot, queue_length=queue)


def info(actor, cluster: Cluster) -> dict:
    """Live summary: node state counts, queue length, partitions (falls back to the last sync,
    saying why, when the controller cannot be reached)."""
    client = connection.controller_client(cluster, purpose="cluster info", actor=actor)
    base = {"id": cluster.pk, "name": cluster.name, "kind": cluster.kind, "version": cluster.slurm_version}
    try:
        nodes, partitions, jobs = client.nodes(), client.partitions(), client.queue()
    except SlurmError as exc:
        return {**base, "live": False, "error": str(exc), "note": INFO_TIMEOUT_NOTE, **cluster.summary,
                "partitions": list(cluster.partitions.values("name", "is_default", "state"))}
    pending = sum(1 for j in jobs if j.state.value == "PENDING")
    return {**base, "live": True, **discovery.summary(nodes, len(jobs)), "pending": pending,
            "running": sum(1 for j in jobs if j.state.value == "RUNNING"),
            "partitions": [{"name": p.name, "is_default": p.default, "state": p.state, "nodes": len(p.nodes)}
                           for p in partitions]}


def forget(actor, cluster: Cluster) -> None:
    """Remove the cluster from the portal; the cluster itself is never touched."""
    if not can(actor, cluster, "delete"):
        raise Forbidden("You may not remove this cluster.")
    with transaction.atomic():
        record_audit("cluster.forget", actor=actor, obj=cluster, before=_fields(cluster))
        cluster.delete()


def reservations(actor, cluster: Cluster) -> dict:
    """The cluster's reservations as Slurm shows them now (`scontrol show reservation`), or why not."""
    client = connection.controller_client(cluster, purpose="cluster reservations", actor=actor)
    try:
        found = client.reservations()
    except SlurmError as exc:
        return {"live": False, "error": str(exc), "reservations": []}
    return {"live": True, "reservations": [
        {"name": r.name, "state": r.state, "start": r.start_time, "end": r.end_time,
         "duration_minutes": r.duration_minutes, "nodes": r.nodes, "nodes_expr": r.nodes_expr,
         "partition": r.partition, "flags": r.flags, "maintenance": r.maintenance, "users": r.users,
         "accounts": r.accounts, "tres": r.tres} for r in found]}
