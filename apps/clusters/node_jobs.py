"""Jobs on the `slurm` queue for node states and node health (registered from ClustersConfig)."""
from __future__ import annotations

from rest_framework import serializers

from apps.core.errors import Forbidden, InvalidInput
from apps.jobs.registry import register
from apps.jobs.runner import JobFailed
from apps.rbac.permissions import can

from . import node_health, node_states
from .models import Cluster
from .slurm.errors import SlurmError
from .system_actor import is_system
from .validators import SLURM_NAME

MANAGE = node_states.MANAGE_PERMISSION


def authorize_manage(user, params):
    """Who may start it: `manage` on the cluster (the system, for beat and hooks, always)."""
    if is_system(user):
        return
    cluster = Cluster.objects.filter(pk=params["cluster"]).first()
    if cluster is None or not can(user, cluster, "view"):
        raise InvalidInput({"cluster": ["Unknown cluster."]})
    if not can(user, cluster, "manage"):
        raise Forbidden(f"You may not manage cluster {cluster.name} (node states, accounting).")


class NodeStateParams(serializers.Serializer):
    cluster = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    nodes = serializers.ListField(child=serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"),
                                  min_length=1, max_length=node_states.MAX_NODES)
    action = serializers.ChoiceField(choices=[a.value for a in node_states.NodeStateAction])
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class HealthParams(serializers.Serializer):
    cluster = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    nodes = serializers.ListField(child=serializers.RegexField(SLURM_NAME.pattern), required=False,
                                  max_length=node_states.MAX_NODES)


def _cluster(params) -> Cluster:
    return Cluster.objects.select_related("controller").get(pk=params["cluster"])


@register("clusters.node_state", label="Change Slurm node states", permission=MANAGE, params=NodeStateParams,
          queue="slurm", authorize=authorize_manage, time_limit=120)
def node_state(runner, params, target):
    """`scontrol update NodeName=<exact names> State=<action> Reason=<reason>`, then each node's
    state as Slurm reports it afterwards."""
    cluster = _cluster(params)
    action = node_states.NodeStateAction(params["action"])
    runner.step(f"{action.label} {len(params['nodes'])} node(s) of {cluster.name}")
    try:
        states = node_states.apply_action(cluster, params["nodes"], action, params.get("reason", ""),
                                          actor=runner.job.requester, purpose=f"job {runner.job_id} node state")
    except SlurmError as exc:
        raise JobFailed(f"{cluster.name}: {exc}") from None
    for name in params["nodes"]:
        runner.host_result(name, name in states, f"{name}: {states.get(name, 'not reported by Slurm')}",
                           state=states.get(name, ""))
    runner.progress(100)
    return {"action": action.value, "states": states}


@register("clusters.health", label="Repair Slurm nodes (restart slurmd, resume)", permission=MANAGE,
          params=HealthParams, queue="slurm", authorize=authorize_manage, time_limit=900)
def health(runner, params, target):
    """Nodes down or drained for a reason Slurm set itself: restart slurmd on the node's host,
    wait until slurmctld hears from it, resume it; one result per node."""
    cluster = _cluster(params)
    runner.step(f"Looking for nodes Slurm took out of service on {cluster.name}")

    def report(outcome):
        runner.host_result(outcome.node, outcome.ok, outcome.message, **outcome.as_data())

    try:
        outcomes = node_health.check_cluster(cluster, actor=runner.job.requester, names=params.get("nodes") or None,
                                             report=report, sleep=runner.sleep,
                                             purpose=f"job {runner.job_id} node health")
    except SlurmError as exc:
        raise JobFailed(f"{cluster.name}: {exc}") from None
    runner.progress(100)
    if not outcomes:
        runner.log("Every node is in service or out of it for an operator's reason: nothing to repair.")
    failed = [o.node for o in outcomes if not o.ok]
    if failed:
        raise JobFailed(f"{len(failed)} of {len(outcomes)} node(s) could not be brought back: {', '.join(failed)}")
    return {"repaired": [o.node for o in outcomes]}
