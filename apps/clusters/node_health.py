"""Node health: find nodes Slurm itself took out of service, restart their slurmd, resume them.

Which nodes: down, drained, failing or not responding with a reason Slurm set itself (empty,
"Not responding", "Kill task failed", "Node unexpectedly rebooted", prolog/epilog errors...).
A reason an operator gave, or the portal's own GPU drain (prefix `aimatrix:`), is a decision
this job leaves alone; so are nodes powered down on purpose.

For each such node: restart slurmd on the node's own host (the portal's Node of that machine,
over SSH: the cluster's `slurmd_restart_command`, default `sudo -n systemctl restart slurmd`),
wait (bounded) until slurmctld hears from it, resume it where it is still down or drained, and
report what was done and how it ended (one host result per node).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.conf import settings

from apps.jobs.services import start_job

from . import connection, node_states
from .models import Cluster, ClusterNode
from .slurm import NodeAction, NodeBaseState, NodeFlag
from .slurm.errors import SlurmError

DEFAULT_SLURMD_RESTART = ["sudo", "-n", "systemctl", "restart", "slurmd"]
PORTAL_REASON_PREFIX = "aimatrix:"  # the GPU drain's reasons (gpu_drain.py)
# Reasons slurmctld/slurmd write themselves (Slurm 20-24), matched whole and case-insensitively: an
# operator's "not responding to pings, RMA" is theirs.
SLURM_REASONS = frozenset({"not responding", "kill task failed", "node unexpectedly rebooted", "prolog error",
                           "epilog error", "batch job complete failure", "job credential expired",
                           "launch failed requeued held", "reboot timed out", "duplicate jobid",
                           "slurmd restarted"})
ON_PURPOSE = {NodeFlag.POWERED_DOWN, NodeFlag.POWERING_DOWN, NodeFlag.POWER_DOWN, NodeFlag.POWERING_UP,
              NodeFlag.REBOOT_REQUESTED, NodeFlag.REBOOT_ISSUED, NodeFlag.MAINTENANCE, NodeFlag.RESERVED}
TROUBLE = {NodeFlag.DRAIN, NodeFlag.FAIL, NodeFlag.NOT_RESPONDING}
POLL_INTERVAL = 1.0


def set_by_slurm(reason: str) -> bool:
    """True for an empty reason or one Slurm writes itself; False for an operator's or ours."""
    text = (reason or "").strip().lower()
    if not text:
        return True
    if text.startswith(PORTAL_REASON_PREFIX):
        return False
    return text in SLURM_REASONS


def needs_repair(sn) -> bool:
    """Down/drained/failing/not responding, not on purpose, for a reason Slurm set itself."""
    state = sn.state
    if state.flags & ON_PURPOSE or state.base == NodeBaseState.FUTURE:
        return False
    troubled = state.base == NodeBaseState.DOWN or bool(state.flags & TROUBLE)
    return troubled and set_by_slurm(sn.reason)


def restart_argv(cluster: Cluster) -> list[str]:
    return list(cluster.slurmd_restart_command or DEFAULT_SLURMD_RESTART)


@dataclass
class Outcome:
    node: str
    ok: bool
    message: str
    before: str = ""
    after: str = ""
    done: list = field(default_factory=list)  # what was done, in order

    def as_data(self) -> dict:
        return {"before": self.before, "after": self.after, "done": self.done}


def _state_text(sn) -> str:
    return sn.state.raw or str(sn.state)


def _responding(client, name: str, deadline: float, sleep) -> object:
    """Poll until slurmctld hears from the node (no NOT_RESPONDING) or the deadline; the last record."""
    while True:
        sn = client.nodes([name])[0]
        if NodeFlag.NOT_RESPONDING not in sn.state.flags:
            return sn
        if time.monotonic() >= deadline:
            return sn
        sleep(POLL_INTERVAL)


def repair(cluster: Cluster, member: ClusterNode | None, sn, client, *, actor=None, sleep=time.sleep,
           purpose: str = "node health") -> Outcome:
    """Restart slurmd on the node's host, wait until it answers, resume it if still out."""
    out = Outcome(sn.name, False, "", before=_state_text(sn))
    host = member.node if member is not None else None
    if host is None:
        out.message = (f"{sn.name} ({out.before}, {sn.reason or 'no reason'}): the portal does not know its "
                       f"machine, so slurmd cannot be restarted; register it as a node")
        return out
    try:
        connection.slurm_on(host, purpose=purpose, actor=actor).command(
            restart_argv(cluster), timeout=settings.SLURM_SLURMD_RESTART_TIMEOUT)
        out.done.append(f"restarted slurmd on {host.name}")
        deadline = time.monotonic() + settings.SLURM_HEALTH_RESPOND_TIMEOUT
        now = _responding(client, sn.name, deadline, sleep)
        if NodeFlag.NOT_RESPONDING in now.state.flags:
            out.after = _state_text(now)
            out.message = (f"slurmd restarted on {host.name} but slurmctld has not heard from {sn.name} within "
                           f"{settings.SLURM_HEALTH_RESPOND_TIMEOUT:g} s ({out.after})")
            return out
        if now.state.base == NodeBaseState.DOWN or now.state.flags & {NodeFlag.DRAIN, NodeFlag.FAIL}:
            client.update_nodes([sn.name], NodeAction.RESUME)
            out.done.append("resumed")
            now = client.nodes([sn.name])[0]
        else:
            out.done.append("back in service by itself after the restart")
    except SlurmError as exc:
        out.message = f"{sn.name}: {exc}"
        return out
    out.after = _state_text(now)
    out.ok = now.state.available
    node_states.store_states(cluster, [now])
    out.message = f"{sn.name}: {out.before} -> {out.after} ({', '.join(out.done)})"
    if not out.ok:
        out.message += ": still not available"
    return out


def candidates(client, names=None) -> list:
    nodes = client.nodes(names) if names else client.nodes()
    return [sn for sn in nodes if needs_repair(sn)]


def check_cluster(cluster: Cluster, *, actor=None, names=None, report=None, sleep=time.sleep,
                  purpose: str = "node health") -> list[Outcome]:
    """Repair every node that needs it (optionally only `names`); report(outcome) after each."""
    client = connection.controller_client(cluster, purpose=purpose, actor=actor)
    found = candidates(client, names)
    members = {m.slurm_name: m for m in cluster.members.select_related("node").filter(
        slurm_name__in=[sn.name for sn in found])}
    outcomes = []
    for sn in found:
        outcome = repair(cluster, members.get(sn.name), sn, client, actor=actor, sleep=sleep, purpose=purpose)
        outcomes.append(outcome)
        if report is not None:
            report(outcome)
    return outcomes


def start_repair(actor, cluster: Cluster, names=None):
    """The repair job for the cluster (or only `names`, exact node names of it); audited as a job start."""
    node_states.check_may_manage(actor, cluster)
    params = {"cluster": cluster.pk}
    if names:
        params["nodes"] = [m.slurm_name for m in node_states.members_named(cluster, names)]
    return start_job(actor, "clusters.health", params, target=cluster)
