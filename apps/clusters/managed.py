"""Managed clusters: what the portal renders into slurm.conf — partitions and member nodes —
added, changed and removed here (permission, validation, one audit entry each). Nothing reaches
the cluster until the configuration is applied (config_apply, a job).

Every value is checked with the renderer's own rules, so what is stored can always be rendered;
errors name the field. Node lists hold exact Slurm names: removing `lab-node1` leaves `lab-node10`.
"""
from __future__ import annotations

from django.db import IntegrityError, transaction

from apps.core.audit import record_audit
from apps.core.errors import InvalidInput
from apps.nodes.models import Node
from apps.rbac.permissions import can

from . import rendering
from .config_apply import check_may_manage, check_writable
from .models import Cluster, ClusterNode, Partition

PARTITION_FIELDS = ("name", "nodes", "is_default", "max_time", "state", "allow_accounts", "allow_qos", "options")
HARDWARE_FIELDS = ("cpus", "sockets", "cores_per_socket", "threads_per_core", "real_memory_mb")
MAX_LIST = 1000


def _may_manage(actor, cluster: Cluster) -> None:
    check_may_manage(actor, cluster)
    check_writable(cluster)


def _names(value, field: str, check) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > MAX_LIST:
        raise InvalidInput({field: [f"A list of at most {MAX_LIST} names."]})
    try:
        return tuple(dict.fromkeys(check(v, field) for v in value))
    except rendering.RenderError as exc:
        raise InvalidInput({exc.field: [exc.message]}) from None


def _partition_values(cluster: Cluster, data: dict, instance: Partition | None) -> dict:
    unknown = set(data) - set(PARTITION_FIELDS)
    if unknown:
        raise InvalidInput({sorted(unknown)[0]: ["Not a partition field."]})
    values = {name: getattr(instance, name) for name in PARTITION_FIELDS} if instance else {
        "name": None, "nodes": [], "is_default": False, "max_time": "UNLIMITED", "state": "UP",
        "allow_accounts": [], "allow_qos": [], "options": {}}
    values.update(data)
    try:
        rendering.check_slurm_name(values["name"], "name")
        rendering.check_time(values["max_time"])
        rendering.check_state(values["state"])
        values["options"] = rendering.check_options(values["options"])
    except rendering.RenderError as exc:
        raise InvalidInput({exc.field: [exc.message]}) from None
    if not isinstance(values["is_default"], bool):
        raise InvalidInput({"is_default": ["true or false."]})
    values["nodes"] = list(_names(values["nodes"], "nodes", rendering.check_node_name))
    values["allow_accounts"] = list(_names(values["allow_accounts"], "allow_accounts", rendering.check_slurm_name))
    values["allow_qos"] = list(_names(values["allow_qos"], "allow_qos", rendering.check_slurm_name))
    members = set(cluster.members.filter(managed=True).values_list("slurm_name", flat=True))
    strangers = [n for n in values["nodes"] if n not in members]
    if strangers:
        raise InvalidInput({"nodes": [f"Not a node of {cluster.name}: {', '.join(strangers[:10])}."]})
    clash = cluster.partitions.filter(name__iexact=values["name"])
    if instance is not None:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        raise InvalidInput({"name": [f"{cluster.name} has a partition named {values['name']} already."]})
    return values


def _partition_fields(p: Partition) -> dict:
    return {name: getattr(p, name) for name in PARTITION_FIELDS}


def _save_partition(partition: Partition) -> None:
    if partition.is_default:  # one default: choosing this one unsets the others
        partition.cluster.partitions.exclude(pk=partition.pk).filter(is_default=True).update(is_default=False)
    partition.save()


def create_partition(actor, cluster: Cluster, **data) -> Partition:
    _may_manage(actor, cluster)
    values = _partition_values(cluster, data, None)
    with transaction.atomic():
        partition = Partition(cluster=cluster, managed=True, **values)
        _save_partition(partition)
        record_audit("cluster.partition.create", actor=actor, obj=cluster,
                     after={"partition": partition.pk, **values})
    return partition


def update_partition(actor, partition: Partition, **changes) -> Partition:
    _may_manage(actor, partition.cluster)
    before = _partition_fields(partition)
    values = _partition_values(partition.cluster, changes, partition)
    with transaction.atomic():
        for key, value in values.items():
            setattr(partition, key, value)
        partition.managed = True
        _save_partition(partition)
        record_audit("cluster.partition.update", actor=actor, obj=partition.cluster,
                     before={"partition": partition.pk, **before}, after={"partition": partition.pk, **values})
    return partition


def delete_partition(actor, partition: Partition) -> None:
    _may_manage(actor, partition.cluster)
    with transaction.atomic():
        record_audit("cluster.partition.delete", actor=actor, obj=partition.cluster,
                     before={"partition": partition.pk, **_partition_fields(partition)})
        partition.delete()


# -- nodes ----------------------------------------------------------------------------------------------

def hardware_from_facts(facts: dict) -> dict:
    """Slurm's node hardware from a node's facts (lscpu, /proc/meminfo); {} for what is unknown."""
    out = {}
    sockets, cores, threads = (facts.get(k) for k in ("cpu_sockets", "cpu_cores", "cpu_threads"))
    if all(isinstance(v, int) and v > 0 for v in (sockets, cores, threads)) and cores % sockets == 0 \
            and threads % cores == 0:
        out.update(cpus=threads, sockets=sockets, cores_per_socket=cores // sockets,
                   threads_per_core=threads // cores)
    memory = facts.get("memory_bytes")
    if isinstance(memory, int) and memory > 0:
        # What slurmd will see minus a little for the OS: RealMemory above the real one drains the node.
        out["real_memory_mb"] = int(memory // 2**20 * 0.95)
    return out


def _member_fields(m: ClusterNode) -> dict:
    return {"slurm_name": m.slurm_name, "node": m.node_id, "address": m.address,
            **{k: getattr(m, k) for k in HARDWARE_FIELDS}, "gpu_count": m.gpu_count, "features": m.features}


def add_node(actor, cluster: Cluster, *, node: Node, slurm_name: str | None = None, address: str = "",
             partitions=(), features=(), **hardware) -> ClusterNode:
    """Make `node` a member (rendered on the next apply; Slurm needs a restart for that, which
    apply does). Hardware: given values, else the node's facts, else one CPU."""
    _may_manage(actor, cluster)
    if node is None or not can(actor, node, "use"):
        raise InvalidInput({"node": ["Unknown node, or one you may not use."]})
    unknown = set(hardware) - set(HARDWARE_FIELDS)
    if unknown:
        raise InvalidInput({sorted(unknown)[0]: ["Not a node field."]})
    slurm_name = slurm_name or node.name
    try:
        rendering.check_node_name(slurm_name, "slurm_name")
        if address:
            rendering.check_node(rendering.NodeSpec(slurm_name, address=address))
    except rendering.RenderError as exc:
        raise InvalidInput({exc.field: [exc.message]}) from None
    features = _names(list(features), "features", lambda v, f: v if isinstance(v, str) and
                      rendering.FEATURE.fullmatch(v) else _bad(f, "letters, digits, '_', '.' or '-'"))
    part_names = _names(list(partitions), "partitions", rendering.check_slurm_name)
    chosen = list(cluster.partitions.filter(name__in=part_names, managed=True))
    missing = set(part_names) - {p.name for p in chosen}
    if missing:
        raise InvalidInput({"partitions": [f"No partition {', '.join(sorted(missing))} in {cluster.name}."]})
    values = {"cpus": 1, "sockets": 1, "cores_per_socket": 1, "threads_per_core": 1, "real_memory_mb": 0,
              **hardware_from_facts(node.facts or {}), **{k: v for k, v in hardware.items() if v is not None}}
    gpus = node.gpus.filter(present=True).count() if hasattr(node, "gpus") else 0
    try:
        rendering.check_node(rendering.NodeSpec(slurm_name, address=address, gpu_indexes=(), **values))
    except rendering.RenderError as exc:
        raise InvalidInput({exc.field: [exc.message]}) from None
    if ClusterNode.objects.filter(node=node).exists():
        raise InvalidInput({"node": [f"{node.name} is in a cluster already (a machine is in one cluster)."]})
    if cluster.members.filter(slurm_name=slurm_name).exists():
        raise InvalidInput({"slurm_name": [f"{cluster.name} has a node named {slurm_name} already."]})
    try:
        with transaction.atomic():
            member = ClusterNode.objects.create(cluster=cluster, node=node, slurm_name=slurm_name, address=address,
                                                gpu_count=gpus, features=list(features), managed=True,
                                                state="", **values)
            for partition in chosen:
                if slurm_name not in partition.nodes:
                    partition.nodes = [*partition.nodes, slurm_name]
                    partition.save(update_fields=["nodes"])
            record_audit("cluster.node.add", actor=actor, obj=cluster,
                         after={"member": member.pk, **_member_fields(member), "partitions": list(part_names)})
    except IntegrityError:
        raise InvalidInput({"node": [f"{node.name} is in a cluster already."]}) from None
    return member


def _bad(field, message):
    raise rendering.RenderError(field, message)


def remove_node(actor, member: ClusterNode) -> None:
    """Remove exactly this node: its row and its exact name from every partition's list."""
    cluster = member.cluster
    _may_manage(actor, cluster)
    with transaction.atomic():
        touched = []
        for partition in cluster.partitions.select_for_update():
            kept = [n for n in partition.nodes if n != member.slurm_name]  # equality, never a substring
            if kept != partition.nodes:
                partition.nodes = kept
                partition.save(update_fields=["nodes"])
                touched.append(partition.name)
        record_audit("cluster.node.remove", actor=actor, obj=cluster,
                     before={"member": member.pk, **_member_fields(member), "partitions": touched})
        member.delete()
