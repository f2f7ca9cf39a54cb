"""Scaling a managed cluster with Salt (the seed's flow): check the nodes' minions, scale nodes in
(state.apply `slurm.node`, add them to the configuration, apply, wait until idle) and scale them
out (drain, wait for their jobs, remove, apply, stop slurmd through Salt).

These are the entry points of the API and the pages: permission (clusters.manage_cluster and
`manage` on the cluster), validation naming the field, ONE audit entry naming the job. The work
runs in the jobs of scaling_jobs.py. Salt is reached through the nodes app's master (the minion
linked to each portal node); secrets go only through pillar (scaling_pillar.py).
"""
from __future__ import annotations

from django.db import transaction

from apps.core.audit import record_audit
from apps.core.errors import InvalidInput
from apps.jobs.services import start_job
from apps.keyvault.models import Secret, SecretKind
from apps.keyvault.services import check_use
from apps.nodes.models import Node
from apps.nodes.salt import SaltError, SaltRole
from apps.nodes.salt_models import SaltKeyState, SaltMinion
from apps.nodes.salt_services import SaltUnavailable, client_for
from apps.rbac.permissions import can

from . import config_apply, node_states
from .models import Cluster, ClusterNode

MAX_NODES = 200
CHECK_WAIT_S = 5.0
SLURM_PACKAGE = "slurmd"
SCALE_KIND = "clusters.scale"
SCALE_DOWN_KIND = "clusters.scale_down"
DRAIN_WAIT_DEFAULT_S = 300
DRAIN_WAIT_MAX_S = 24 * 3600


def check_may_scale(actor, cluster: Cluster) -> None:
    config_apply.check_may_manage(actor, cluster)
    config_apply.check_writable(cluster)


def nodes_named(actor, names, field: str = "nodes") -> list[Node]:
    """Portal nodes by exact name (or id), each visible to and usable by the actor."""
    if not isinstance(names, (list, tuple)) or not names:
        raise InvalidInput({field: ["Name at least one node."]})
    if len(names) > MAX_NODES:
        raise InvalidInput({field: [f"At most {MAX_NODES} nodes at once."]})
    wanted = list(dict.fromkeys(str(n) for n in names))
    by_name = {n.name: n for n in Node.objects.filter(name__in=wanted).select_related("salt_minion__master")}
    ids = [int(w) for w in wanted if w.isdigit() and w not in by_name]
    by_id = {str(n.pk): n for n in Node.objects.filter(pk__in=ids).select_related("salt_minion__master")}
    out = []
    for w in wanted:
        node = by_name.get(w) or by_id.get(w)
        if node is None or not can(actor, node, "view"):
            raise InvalidInput({field: [f"Unknown node: {w[:63]!r}."]})
        if not can(actor, node, "use"):
            raise InvalidInput({field: [f"You may not use node {node.name}."]})
        out.append(node)
    return out


def minion_of(node: Node) -> SaltMinion | None:
    try:
        return node.salt_minion
    except SaltMinion.DoesNotExist:
        return None


# -- check-salt --------------------------------------------------------------------------------

def check_salt(actor, cluster: Cluster, names) -> list[dict]:
    """Per node: minion key accepted, answering a ping, Salt version, Slurm installed, ready or why
    not. Reads only (no audit)."""
    check_may_scale(actor, cluster)
    nodes = nodes_named(actor, names)
    rows = {n.pk: _check_row(cluster, n) for n in nodes}
    by_master: dict = {}
    for node in nodes:
        minion = minion_of(node)
        if minion is not None and minion.key_state == SaltKeyState.ACCEPTED:
            by_master.setdefault(minion.master, []).append((node, minion))
    for master, pairs in by_master.items():
        ids = [m.minion_id for _, m in pairs]
        try:
            api = client_for(master, actor=actor, purpose=f"scaling check of {cluster.name}", role=SaltRole.VIEWER)
            versions = api.version(ids, tgt_type="list", wait=CHECK_WAIT_S)
            slurm = api.run(ids, "pkg.version", [SLURM_PACKAGE], tgt_type="list", wait=CHECK_WAIT_S)
        except (SaltError, SaltUnavailable) as exc:
            for node, _ in pairs:
                rows[node.pk]["reasons"].append(f"Salt master {master.name}: {exc}")
            continue
        for node, minion in pairs:
            row = rows[node.pk]
            answer = versions.returns.get(minion.minion_id)
            row["ping"] = answer is not None and answer.success
            if row["ping"]:
                row["salt_version"] = str(answer.ret)[:40]
            else:
                row["reasons"].append(f"minion {minion.minion_id} did not answer")
            pkg = slurm.returns.get(minion.minion_id)
            if pkg is not None and pkg.success and isinstance(pkg.ret, str) and pkg.ret:
                row["slurm_installed"], row["slurm_version"] = True, pkg.ret[:40]
            elif row["ping"]:
                row["slurm_installed"] = False
                row["notes"].append(f"{SLURM_PACKAGE} is not installed: slurm.node installs it where the "
                                    "cluster's pillar allows package installs")
    for row in rows.values():
        row["ready"] = not row["reasons"]
    return [rows[n.pk] for n in nodes]


def _check_row(cluster: Cluster, node: Node) -> dict:
    minion = minion_of(node)
    row = {"node": node.name, "node_id": node.pk, "minion": minion.minion_id if minion else None,
           "master": minion.master.name if minion else None,
           "key_state": minion.key_state if minion else SaltKeyState.ABSENT, "key_accepted": False,
           "ping": False, "salt_version": "", "slurm_installed": None, "slurm_version": "", "ready": False,
           "reasons": [], "notes": []}
    member = ClusterNode.objects.filter(node=node).select_related("cluster").first()
    if member is not None:
        row["reasons"].append(f"already a node of {member.cluster.name} ({member.slurm_name})")
    if minion is None:
        row["reasons"].append("no Salt minion for this node (enroll it first)")
    elif minion.key_state != SaltKeyState.ACCEPTED:
        row["reasons"].append(f"minion key is {minion.get_key_state_display().lower()}, not accepted")
    else:
        row["key_accepted"] = True
    return row


# -- scale in / out ----------------------------------------------------------------------------

def munge_secret(actor, cluster: Cluster, value) -> Secret | None:
    """The vault secret holding the cluster's munge key (base64 of the key file); required unless
    the cluster reuses its own munge key."""
    if value in (None, ""):
        if not cluster.reuse_munge:
            raise InvalidInput({"munge_key": [f"{cluster.name} gets its munge key from the portal: name the "
                                              "vault secret (kind munge_key) that holds it."]})
        return None
    field = {"pk": int(value)} if isinstance(value, int) or str(value).isdigit() else {"name": str(value)}
    secret = Secret.objects.filter(**field).first()
    if secret is None or not can(actor, secret, "view"):
        raise InvalidInput({"munge_key": ["Unknown secret."]})
    if secret.kind != SecretKind.MUNGE_KEY:
        raise InvalidInput({"munge_key": [f"Secret {secret.name} is not a munge key."]})
    check_use(actor, secret, "munge_key")
    return secret


def partitions_for(cluster: Cluster, partitions) -> list[str]:
    """The partitions new nodes join: those named (each must exist), else the default partition."""
    parts = list(partitions) if partitions else list(
        cluster.partitions.filter(managed=True, is_default=True).values_list("name", flat=True))
    unknown = set(parts) - set(cluster.partitions.filter(managed=True).values_list("name", flat=True))
    if unknown:
        raise InvalidInput({"partitions": [f"No partition {', '.join(sorted(unknown))} in {cluster.name}."]})
    return parts


def start_scale(actor, cluster: Cluster, nodes, *, munge_key=None, partitions=None, workflow=None):
    """Validate and start `clusters.scale`; one audit entry names the job."""
    check_may_scale(actor, cluster)
    chosen = nodes_named(actor, nodes)
    problems = []
    for node in chosen:
        minion = minion_of(node)
        if minion is None or minion.key_state != SaltKeyState.ACCEPTED:
            problems.append(f"{node.name}: no accepted Salt minion")
        elif ClusterNode.objects.filter(node=node).exists():
            problems.append(f"{node.name}: already in a cluster")
    if problems:
        raise InvalidInput({"nodes": problems[:20]})
    secret = munge_secret(actor, cluster, munge_key)
    parts = partitions_for(cluster, partitions)
    params = {"cluster": cluster.pk, "nodes": [n.pk for n in chosen], "partitions": parts,
              "munge_key": secret.pk if secret else None}
    if workflow:
        params["workflow"] = workflow
    with transaction.atomic():
        job = start_job(actor, SCALE_KIND, params, target=cluster, audit=False)
        record_audit("cluster.scale", actor=actor, obj=cluster,
                     after={"nodes": [n.name for n in chosen], "partitions": parts,
                            "munge_key": secret.name if secret else None, "job": job.pk})
    return job


def start_scale_down(actor, cluster: Cluster, nodes, *, reason: str = "", drain_timeout=None, force: bool = False,
                     workflow=None):
    """Validate and start `clusters.scale_down` (drain, wait, remove, apply, stop slurmd)."""
    check_may_scale(actor, cluster)
    members = node_states.members_named(cluster, nodes)
    text = node_states.clean_reason(reason or "scaled down by the portal", required=True)
    timeout = DRAIN_WAIT_DEFAULT_S if drain_timeout in (None, "") else drain_timeout
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not 0 <= timeout <= DRAIN_WAIT_MAX_S:
        raise InvalidInput({"drain_timeout": [f"Seconds between 0 and {DRAIN_WAIT_MAX_S}."]})
    if not isinstance(force, bool):
        raise InvalidInput({"force": ["true or false."]})
    params = {"cluster": cluster.pk, "nodes": [m.slurm_name for m in members], "reason": text,
              "drain_timeout": timeout, "force": force}
    if workflow:
        params["workflow"] = workflow
    with transaction.atomic():
        job = start_job(actor, SCALE_DOWN_KIND, params, target=cluster, audit=False)
        record_audit("cluster.scale_down", actor=actor, obj=cluster,
                     before={m.slurm_name: {"state": m.state} for m in members},
                     after={"nodes": params["nodes"], "reason": text, "drain_timeout": timeout, "force": force,
                            "job": job.pk})
    return job
