"""Node states: drain / resume / down / power down / power up a cluster's nodes with a reason.

`manage_nodes` is the one entry point (API, page): permission, exact names of that cluster,
a validated reason, ONE audit entry naming the job; the job (`clusters.node_state`) runs
`scontrol update` through the client and stores what Slurm then reports for each node.
"""
from __future__ import annotations

import enum

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.core.audit import record_audit
from apps.core.errors import Forbidden, InvalidInput
from apps.jobs.services import start_job
from apps.rbac.permissions import can

from . import connection
from .models import Cluster, ClusterNode
from .slurm import NodeAction, validate
from .slurm.errors import InvalidName
from .validators import validate_reason

MAX_NODES = 1000
MANAGE_PERMISSION = "clusters.manage_cluster"


class NodeStateAction(str, enum.Enum):
    """What the portal offers (the API's `action`), and the scontrol state each one sets."""

    DRAIN = "drain"
    RESUME = "resume"
    DOWN = "down"
    POWER_DOWN = "power_down"
    POWER_UP = "power_up"

    @property
    def slurm(self) -> NodeAction:
        return NodeAction[self.name]

    @property
    def needs_reason(self) -> bool:
        return self.slurm.needs_reason

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


def check_may_manage(actor, cluster: Cluster) -> None:
    if not actor.has_perm(MANAGE_PERMISSION) or not can(actor, cluster, "manage"):
        raise Forbidden(f"You may not manage cluster {cluster.name} (node states, accounting).")


def clean_reason(reason, *, required: bool, field: str = "reason") -> str:
    """A reason Slurm stores as given: one line, no '=' or '|', at most 200 characters."""
    if reason is None or (isinstance(reason, str) and not reason.strip()):
        if required:
            raise InvalidInput({field: ["Give a reason: Slurm shows it to users and operators."]})
        return ""
    try:
        validate_reason(reason)
        return validate.reason(reason, field, required=required)
    except ValidationError as exc:
        raise InvalidInput({field: exc.messages}) from None
    except InvalidName as exc:
        raise InvalidInput({field: [exc.reason]}) from None


def clean_action(action) -> NodeStateAction:
    try:
        return NodeStateAction(action)
    except ValueError:
        choices = ", ".join(a.value for a in NodeStateAction)
        raise InvalidInput({"action": [f"Choose one of: {choices}."]}) from None


def members_named(cluster: Cluster, names) -> list[ClusterNode]:
    """The cluster's nodes with exactly these Slurm names (no patterns, no prefixes); an unknown
    name is refused by name."""
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise InvalidInput({"nodes": ["Give a list of Slurm node names of this cluster."]})
    if len(names) > MAX_NODES:
        raise InvalidInput({"nodes": [f"At most {MAX_NODES} nodes at once."]})
    wanted = list(dict.fromkeys(names))
    found = {m.slurm_name: m for m in cluster.members.filter(slurm_name__in=wanted)}
    unknown = [n for n in wanted if n not in found]
    if unknown:
        shown = ", ".join(repr(n[:63]) for n in unknown[:5])
        raise InvalidInput({"nodes": [f"Not a node of {cluster.name}: {shown}."]})
    return [found[n] for n in wanted]


def manage_nodes(actor, cluster: Cluster, nodes, action, reason: str = ""):
    """Validate and start the node-state job; one audit entry names it. Returns the job."""
    check_may_manage(actor, cluster)
    action = clean_action(action)
    members = members_named(cluster, nodes)
    text = clean_reason(reason, required=action.needs_reason)
    params = {"cluster": cluster.pk, "nodes": [m.slurm_name for m in members], "action": action.value,
              "reason": text}
    with transaction.atomic():
        job = start_job(actor, "clusters.node_state", params, target=cluster, audit=False)
        record_audit("cluster.nodes_" + action.value, actor=actor, obj=cluster,
                     before={m.slurm_name: {"state": m.state, "reason": m.reason} for m in members},
                     after={"action": action.value, "nodes": params["nodes"], "reason": text, "job": job.pk})
    return job


def store_states(cluster: Cluster, slurm_nodes) -> dict:
    """Write what Slurm reports now into the cluster's rows; {name: state text}."""
    out = {}
    rows = {m.slurm_name: m for m in cluster.members.filter(slurm_name__in=[n.name for n in slurm_nodes])}
    for sn in slurm_nodes:
        state = (sn.state.raw or str(sn.state))[:64]
        out[sn.name] = state
        member = rows.get(sn.name)
        if member is not None and (member.state, member.reason) != (state, sn.reason[:300]):
            ClusterNode.objects.filter(pk=member.pk).update(state=state, reason=sn.reason[:300])
    return out


def apply_action(cluster: Cluster, names: list[str], action: NodeStateAction, reason: str, *, actor=None,
                 purpose: str = "node state") -> dict:
    """`scontrol update` on the controller, then read those nodes back and store them."""
    client = connection.controller_client(cluster, purpose=purpose, actor=actor)
    client.update_nodes(names, action.slurm, reason)
    return store_states(cluster, client.nodes(names))
