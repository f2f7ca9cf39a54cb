"""What a cluster's controller says about it, stored: version, configuration, partitions and
nodes (each Slurm node linked to the portal's Node of that machine when there is one).

External clusters mirror Slurm: partitions and nodes Slurm no longer reports are removed from the
portal (never from the cluster). Managed clusters keep their rows (they are what the portal
renders into slurm.conf) and only take the observed state.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.nodes.models import Node

from . import history
from .models import Cluster, ClusterKind, ClusterNode, ClusterStatus, Partition
from .slurm import records

NOT_IN_SLURM = "NOT_IN_SLURM"  # a managed node slurm.conf does not list (yet)


@dataclass
class Snapshot:
    version: records.Version
    config: records.ClusterConfig
    nodes: list  # [records.SlurmNode]
    partitions: list  # [records.Partition]


def read(client) -> Snapshot:
    """Everything discovery needs, in four commands on the controller."""
    return Snapshot(client.version(), client.config(), client.nodes(), client.partitions())


def preview(snapshot: Snapshot) -> dict:
    """The test-connection answer: what connecting would find (nothing is saved)."""
    controllers = [name if not address else f"{name} ({address})" for name, address in snapshot.config.controllers]
    return {"version": str(snapshot.version), "cluster_name": snapshot.config.cluster_name,
            "controller": controllers[0] if controllers else "", "controllers": controllers,
            "node_count": len(snapshot.nodes), "gpu_count": sum(n.gpus for n in snapshot.nodes),
            "partitions": [{"name": p.name, "nodes": len(p.nodes), "default": p.default, "state": p.state}
                           for p in snapshot.partitions],
            "node_states": node_state_counts(snapshot.nodes), "gres_types": snapshot.config.gres_types,
            "accounting": snapshot.config.accounting_storage_type}


def node_state_counts(nodes) -> dict:
    return dict(Counter(_state_word(n.state) for n in nodes))


def _state_word(state: records.NodeState) -> str:
    return state_word(state.base.value, {getattr(flag, "value", flag) for flag in state.flags})


def state_word(base: str, flags) -> str:
    """One word per node for counts and colours: drained/draining/not responding win over the base
    state (IDLE+DRAIN is drained, MIXED+DRAIN still draining)."""
    base = base.lower()
    if "DRAIN" in flags:
        return "drained" if base in ("idle", "down") else "draining"
    if "NOT_RESPONDING" in flags and base != "down":
        return "not_responding"
    return base or "unknown"


def _matching_nodes(slurm_nodes) -> dict[str, Node]:
    """Portal nodes by Slurm node name: same name, or the NodeAddr / NodeHostname is its address."""
    names = {n.name for n in slurm_nodes}
    addresses = {a for n in slurm_nodes for a in (n.address, n.hostname) if a}
    found = Node.objects.filter(Q(name__in=names) | Q(address__in=addresses)).select_related("cluster_member")
    by_name = {node.name: node for node in found}
    by_address = {node.address: node for node in found}
    out = {}
    for sn in slurm_nodes:
        node = by_name.get(sn.name) or by_address.get(sn.address) or by_address.get(sn.hostname)
        if node is not None:
            out[sn.name] = node
    return out


def apply(cluster: Cluster, snapshot: Snapshot, *, queue_length: int | None = None) -> dict:
    """Store a snapshot; returns what changed (counts) for the job's log."""
    now = timezone.now()
    changes = Counter()
    with transaction.atomic():
        cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)
        cluster.slurm_version = str(snapshot.version)[:32]
        cluster.slurm_cluster_name = (snapshot.config.cluster_name or "")[:63]
        cluster.config_snapshot = snapshot.config.values
        # A managed cluster's first discovery adopts what Slurm runs; later ones never add to the
        # rendered configuration (a node removed in the portal but not yet applied stays removed).
        adopt = cluster.kind == ClusterKind.MANAGED and cluster.discovered_at is None
        cluster.discovered_at = cluster.discovered_at or now
        _apply_partitions(cluster, snapshot.partitions, changes, adopt)
        _apply_nodes(cluster, snapshot.nodes, changes, adopt)
        _observe(cluster, snapshot.nodes, queue_length, now)
        cluster.save()
        history.record(cluster, cluster.summary, at=now)
    return dict(changes)


def _observe(cluster: Cluster, slurm_nodes, queue_length, now) -> None:
    """The cluster's summary and status from its nodes' states (not saved here)."""
    cluster.summary = summary(slurm_nodes, queue_length if queue_length is not None
                              else (cluster.summary or {}).get("queue_length"))
    trouble = [n.name for n in slurm_nodes if _state_word(n.state) in {"down", "drained", "error", "not_responding"}]
    cluster.status = ClusterStatus.DEGRADED if trouble else ClusterStatus.ONLINE
    cluster.status_reason = f"{len(trouble)} node(s) down or drained: {', '.join(trouble[:10])}" if trouble else ""
    cluster.synced_at = now


OBSERVED = ("state", "reason", "alloc_cpus", "alloc_gpus")


def observe_nodes(cluster: Cluster, slurm_nodes, *, queue_length: int | None = None) -> int:
    """What the periodic sync learns about nodes: each member's state, reason and allocation, the
    cluster's summary, status and a chart sample. Rows are only created by discovery. Returns the
    number of members that changed."""
    now = timezone.now()
    by_name = {n.name: n for n in slurm_nodes}
    changed = []
    with transaction.atomic():
        cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)
        for member in cluster.members.all():
            sn = by_name.get(member.slurm_name)
            if sn is None:
                continue
            values = {"state": (sn.state.raw or str(sn.state))[:64], "reason": sn.reason[:300],
                      "alloc_cpus": sn.cpus_allocated, "alloc_gpus": sn.gpus_allocated}
            if any(getattr(member, k) != v for k, v in values.items()):
                for key, value in values.items():
                    setattr(member, key, value)
                changed.append(member)
        ClusterNode.objects.bulk_update(changed, OBSERVED)
        _observe(cluster, slurm_nodes, queue_length, now)
        cluster.save(update_fields=["summary", "status", "status_reason", "synced_at", "updated_at"])
        history.record(cluster, cluster.summary, at=now)
    return len(changed)


def summary(slurm_nodes, queue_length) -> dict:
    return {"nodes": len(slurm_nodes), "states": node_state_counts(slurm_nodes),
            "gpus": sum(n.gpus for n in slurm_nodes), "gpus_allocated": sum(n.gpus_allocated for n in slurm_nodes),
            "cpus": sum(n.cpus for n in slurm_nodes), "cpus_allocated": sum(n.cpus_allocated for n in slurm_nodes),
            "queue_length": queue_length}


def _apply_partitions(cluster: Cluster, partitions, changes: Counter, adopt: bool) -> None:
    existing = {p.name: p for p in cluster.partitions.all()}
    for record in partitions:
        fields = {"nodes": list(record.nodes), "is_default": record.default,
                  "max_time": "UNLIMITED" if record.max_time_minutes is None else str(record.max_time_minutes),
                  "state": record.state[:16], "allow_accounts": list(record.allow_accounts or []),
                  "allow_qos": list(record.allow_qos or []), "options": dict(record.options)}
        partition = existing.pop(record.name, None)
        if partition is None:
            Partition.objects.create(cluster=cluster, name=record.name,
                                     managed=adopt, **fields)
            changes["partitions added"] += 1
        elif cluster.kind == ClusterKind.EXTERNAL or not partition.managed:
            if any(getattr(partition, k) != v for k, v in fields.items()):
                Partition.objects.filter(pk=partition.pk).update(**fields)
                changes["partitions updated"] += 1
        else:  # managed: the portal's row is the wish; only the state is observed
            Partition.objects.filter(pk=partition.pk).update(state=fields["state"])
    gone = [p.pk for p in existing.values() if cluster.kind == ClusterKind.EXTERNAL or not p.managed]
    if gone:
        Partition.objects.filter(pk__in=gone).delete()
        changes["partitions removed"] += len(gone)


def _apply_nodes(cluster: Cluster, slurm_nodes, changes: Counter, adopt: bool) -> None:
    existing = {m.slurm_name: m for m in cluster.members.all()}
    portal_nodes = _matching_nodes(slurm_nodes)
    for sn in slurm_nodes:
        fields = {"cpus": sn.cpus, "sockets": sn.sockets, "cores_per_socket": sn.cores_per_socket,
                  "threads_per_core": sn.threads_per_core, "real_memory_mb": sn.real_memory_mb,
                  "gres": sn.gres_text[:200], "gpu_count": sn.gpus, "features": list(sn.features),
                  "state": (sn.state.raw or str(sn.state))[:64], "reason": sn.reason[:300],
                  "alloc_cpus": sn.cpus_allocated, "alloc_gpus": sn.gpus_allocated}
        member = existing.pop(sn.name, None)
        node = portal_nodes.get(sn.name)
        if node is not None and hasattr(node, "cluster_member") and node.cluster_member.cluster_id != cluster.pk:
            node = None  # a machine is in one cluster only: leave the other membership alone
        if member is None:
            member = ClusterNode.objects.create(cluster=cluster, slurm_name=sn.name, node=node,
                                                address=sn.address if sn.address != sn.name else "",
                                                managed=adopt, **fields)
            changes["nodes added"] += 1
            continue
        if member.node_id is None and node is not None:
            fields["node"] = node
        if any(getattr(member, k) != v for k, v in fields.items()):
            for key, value in fields.items():
                setattr(member, key, value)
            member.save()
            changes["nodes updated"] += 1
    stale = list(existing.values())
    if cluster.kind == ClusterKind.EXTERNAL:
        ClusterNode.objects.filter(pk__in=[m.pk for m in stale]).delete()
        changes["nodes removed"] += len(stale)
    else:
        ClusterNode.objects.filter(pk__in=[m.pk for m in stale]).update(state=NOT_IN_SLURM, reason="")
