"""The scaling jobs (queue slurm): `clusters.scale` and `clusters.scale_down`.

scale: check the minions answer, add the nodes to the configuration (managed.add_node), apply it
(slurmctld restarts: Slurm needs that to learn new nodes; the new nodes are not awaited yet), run
`state.apply slurm.node` on them (munge key, slurm.conf, gres.conf through pillar; slurmd started),
wait until Slurm shows them idle. A node that fails any step is reported by name (host result)
and rolled out: removed from the configuration again, applied, its slurmd stopped through Salt.

scale_down: drain, wait until the nodes run no job (or the timeout: then it fails and they stay
drained, unless `force`), remove them from the configuration, apply, stop slurmd through Salt.

`scale_in` / `scale_out` are also the steps of the deploy and cleanup workflows.
"""
from __future__ import annotations

import base64
import binascii
import time

from django.conf import settings
from rest_framework import serializers

from apps.core import netpolicy
from apps.jobs.registry import register
from apps.jobs.runner import JobFailed
from apps.keyvault.models import Secret
from apps.keyvault.services import use_secret
from apps.nodes import salt_services
from apps.nodes.models import Node
from apps.nodes.salt import RunResult, SaltError, SaltMinionNoAnswer, SaltRole
from apps.nodes.salt_models import SaltRun

from . import config_apply, connection, managed, node_states, scaling_pillar
from .discovery import _state_word
from .job_kinds import authorize, cluster_of
from .models import Cluster, ClusterNode
from .scaling import SCALE_DOWN_KIND, SCALE_KIND, minion_of
from .slurm.errors import SlurmError

STATE = "slurm.node"
READY_STATES = {"idle", "mixed", "allocated", "completing"}
DRAINED_STATES = {"drained"}


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


class ScaleParams(serializers.Serializer):
    cluster = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    nodes = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), min_length=1,
                                  max_length=200)
    partitions = serializers.ListField(child=serializers.CharField(max_length=63), required=False, default=list)
    munge_key = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False, allow_null=True)
    workflow = serializers.IntegerField(required=False)


class ScaleDownParams(serializers.Serializer):
    cluster = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    nodes = serializers.ListField(child=serializers.CharField(max_length=63), min_length=1, max_length=200)
    reason = serializers.CharField(max_length=200)
    drain_timeout = serializers.IntegerField(min_value=0, max_value=24 * 3600)
    force = serializers.BooleanField(default=False)
    workflow = serializers.IntegerField(required=False)


# -- Salt --------------------------------------------------------------------------------------

def _munge_key(secret: Secret | None, node: Node, actor, purpose: str) -> bytes | None:
    if secret is None:
        return None
    try:
        addresses = netpolicy.resolve(node.address)
    except netpolicy.AddressRefused as exc:
        raise JobFailed(f"{node.name}: {exc}") from None
    value = use_secret(secret, purpose, actor, destination=(node.address, addresses))
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise JobFailed(f"secret {secret.name} is not base64 of a munge key") from None


def state_summary(ret) -> tuple[bool, str]:
    """(ok, one line) from a state.apply return: every state True, or the first failures' comments."""
    if not isinstance(ret, dict):
        lines = ret if isinstance(ret, list) else [ret]
        return False, "; ".join(str(x)[:200] for x in lines[:3]) or "no state result"
    failed = [f"{v.get('__id__', k.split('_|-')[1] if '_|-' in k else k)}: {str(v.get('comment', ''))[:200]}"
              for k, v in ret.items() if isinstance(v, dict) and v.get("result") is False]
    changed = sum(1 for v in ret.values() if isinstance(v, dict) and v.get("changes"))
    if failed:
        return False, "; ".join(failed[:3])
    return True, f"{len(ret)} state(s) ok, {changed} changed"


def apply_state(runner, cluster: Cluster, nodes: list[Node], *, present: bool, secret: Secret | None,
                rendered=None, actor=None) -> dict[str, tuple[bool, str]]:
    """state.apply slurm.node on the nodes' minions with their pillar written for the run;
    {node name: (ok, message)}. One Salt job per master; every wait has a deadline."""
    out: dict[str, tuple[bool, str]] = {}
    by_master: dict = {}
    for node in nodes:
        minion = minion_of(node)
        if minion is None:
            out[node.name] = (False, "no Salt minion")
            continue
        by_master.setdefault(minion.master, []).append((node, minion))
    deadline_s = _setting("SCALE_STATE_TIMEOUT", 300.0)
    for master, pairs in by_master.items():
        pillars = {}
        for node, minion in pairs:
            key = _munge_key(secret, node, actor, f"job {runner.job_id} slurm.node on {node.name}") if present else None
            pillars[minion.minion_id] = scaling_pillar.node_pillar(
                cluster.name, _slurm_name(cluster, node), present=present, munge_key=key,
                slurm_conf=rendered.slurm_conf if (present and rendered) else None,
                gres_conf=rendered.gres_conf if (present and rendered) else None,
                conf_path=cluster.conf_path, gres_path=config_apply.gres_path(cluster))
        ids = list(pillars)
        run_row = SaltRun.objects.create(master=master, fun="state.apply", arguments=[STATE], target=ids,
                                         job_id=runner.job_id, requested_by=actor if getattr(actor, "pk", None) else None)
        try:
            api = salt_services.client_for(master, actor=actor, purpose=f"job {runner.job_id} {STATE}",
                                           role=SaltRole.OPERATOR)
            with scaling_pillar.pillar_for(pillars):
                try:
                    # queue: a run of an earlier (lost) job still going on the minion is waited for
                    submitted = api.submit(ids, "state.apply", [STATE], {"queue": True}, tgt_type="list")
                except SaltMinionNoAnswer:
                    submitted = None
                returns = {}
                if submitted is not None:
                    runner.log(f"Salt job {submitted.jid}: state.apply {STATE} on {', '.join(ids)}")
                    end = time.monotonic() + deadline_s
                    while True:
                        job = api.job(submitted.jid)
                        for m, r in job.returns.items():
                            if m not in returns:
                                returns[m] = r
                                ok, text = state_summary(r.ret)
                                runner.log(f"{m}: {text}", host=m, level="info" if ok and r.success else "error")
                        if all(m in returns for m in submitted.minions) or time.monotonic() >= end:
                            break
                        runner.sleep(0.5)
        except (SaltError, salt_services.SaltUnavailable) as exc:
            for node, _ in pairs:
                out[node.name] = (False, f"Salt: {exc}")
            continue
        salt_services.store_run(run_row, RunResult(submitted.jid if submitted else None, "state.apply", returns,
                                                   tuple(sorted(set(ids) - set(returns)))))
        for node, minion in pairs:
            r = returns.get(minion.minion_id)
            if r is None:
                out[node.name] = (False, f"minion {minion.minion_id} did not return within {deadline_s:g} s")
            else:
                ok, text = state_summary(r.ret)
                out[node.name] = (ok and r.success, text)
    return out


def _slurm_name(cluster: Cluster, node: Node) -> str:
    member = ClusterNode.objects.filter(cluster=cluster, node=node).only("slurm_name").first()
    return member.slurm_name if member else node.name


# -- Slurm -------------------------------------------------------------------------------------

def _apply_config(runner, cluster: Cluster, client, actor, *, expect_later=()) -> dict:
    try:
        return config_apply.apply(cluster, client, log=runner.log, step=lambda name: runner.log(f"apply: {name}"),
                                  actor=actor, expect_later=tuple(expect_later),
                                  sleep=runner.waiting("nodes to respond", settings.SLURM_APPLY_VERIFY_TIMEOUT))
    except config_apply.ApplyFailed as exc:
        raise JobFailed(f"{cluster.name}: apply: {exc}") from None


def wait_states(runner, client, names, wanted: set, deadline_s: float, what: str) -> dict[str, str]:
    """Poll Slurm until each node's state word is in `wanted` or the deadline; {name: last word}."""
    sleep = runner.waiting(what, deadline_s)
    end = time.monotonic() + deadline_s
    seen: dict[str, str] = {}
    while True:
        try:
            seen = {n.name: _state_word(n.state) for n in client.nodes(names)}
        except SlurmError as exc:
            runner.log(f"reading node states: {exc}", level="warning")
        if all(seen.get(n) in wanted for n in names) or time.monotonic() >= end:
            return {n: seen.get(n, "missing") for n in names}
        sleep(1.0)


def scale_in(runner, cluster: Cluster, nodes: list[Node], *, partitions, secret, actor) -> dict[str, tuple[bool, str]]:
    """Add `nodes` to the cluster (see the module docstring); {node name: (ok, message)}; the failed
    ones are rolled out again."""
    results: dict[str, tuple[bool, str]] = {}
    runner.step(f"Check the minions of {len(nodes)} node(s)")
    alive, gpus = _answering(runner, nodes, actor, results)
    if not alive:
        return results
    runner.step("Add the nodes to the configuration")
    added = []
    for node in alive:
        try:
            member = managed.add_node(actor, cluster, node=node, partitions=partitions)
            added.append(node)
        except Exception as exc:  # InvalidInput: the message names the problem
            results[node.name] = (False, f"not added: {_message(exc)}")
            continue
        if not member.gpu_count and gpus.get(node.name):
            # no GPU inventory in the portal yet: the GPUs the minion's grains report
            ClusterNode.objects.filter(pk=member.pk).update(gpu_count=gpus[node.name])
            runner.log(f"{node.name}: {gpus[node.name]} GPU(s) from its Salt grains", host=node.name)
    if not added:
        return results
    names = [_slurm_name(cluster, n) for n in added]
    client = connection.controller_client(cluster, purpose=f"job {runner.job_id} scale", actor=actor)
    runner.step(f"Apply the configuration of {cluster.name} (slurmctld learns {', '.join(names)})")
    try:
        _apply_config(runner, cluster, client, actor, expect_later=names)
    except JobFailed as exc:
        for node in added:
            managed.remove_node(actor, ClusterNode.objects.get(cluster=cluster, node=node))
            results[node.name] = (False, str(exc))
        return results
    runner.step(f"state.apply {STATE} on the new nodes")
    rendered = config_apply.render(cluster)
    states = apply_state(runner, cluster, added, present=True, secret=secret, rendered=rendered, actor=actor)
    runner.step("Wait until Slurm shows the nodes idle")
    ok_names = [_slurm_name(cluster, n) for n in added if states.get(n.name, (False,))[0]]
    words = wait_states(runner, client, ok_names, READY_STATES, _setting("SCALE_IDLE_TIMEOUT", 120.0),
                        "nodes to become idle") if ok_names else {}
    try:
        node_states.store_states(cluster, client.nodes([_slurm_name(cluster, n) for n in added]))
    except SlurmError as exc:
        runner.log(f"storing node states: {exc}", level="warning")
    failed = []
    for node in added:
        ok, text = states.get(node.name, (False, "no state result"))
        word = words.get(_slurm_name(cluster, node))
        if ok and word in READY_STATES:
            results[node.name] = (True, f"{word} in Slurm; {text}")
        else:
            results[node.name] = (False, text if not ok else f"Slurm shows it {word}; {text}")
            failed.append(node)
    if failed:
        _roll_out(runner, cluster, client, failed, actor)
    return results


def _answering(runner, nodes, actor, results) -> tuple[list[Node], dict[str, int]]:
    """The nodes whose minion answers (grains.items: also their GPU count), and those counts."""
    alive, gpus = [], {}
    by_master: dict = {}
    for node in nodes:
        minion = minion_of(node)
        if minion is None:
            results[node.name] = (False, "no Salt minion")
        else:
            by_master.setdefault(minion.master, []).append((node, minion))
    for master, pairs in by_master.items():
        try:
            api = salt_services.client_for(master, actor=actor, purpose=f"job {runner.job_id} ping",
                                           role=SaltRole.VIEWER)
            found = api.hardware([m.minion_id for _, m in pairs], tgt_type="list", wait=10.0)
        except (SaltError, salt_services.SaltUnavailable) as exc:
            for node, _ in pairs:
                results[node.name] = (False, f"Salt: {exc}")
            continue
        for node, minion in pairs:
            r = found.returns.get(minion.minion_id)
            if r is not None and r.success:
                alive.append(node)
                gpus[node.name] = int(getattr(r.ret, "num_gpus", 0) or 0)
            else:
                results[node.name] = (False, f"minion {minion.minion_id} did not answer")
    return alive, gpus


def _roll_out(runner, cluster, client, failed: list[Node], actor) -> None:
    names = [_slurm_name(cluster, n) for n in failed]
    runner.step(f"Roll {', '.join(names)} out of the configuration")
    for node in failed:
        member = ClusterNode.objects.filter(cluster=cluster, node=node).first()
        if member is not None:
            managed.remove_node(actor, member)
    try:
        _apply_config(runner, cluster, client, actor)
    except JobFailed as exc:
        runner.log(f"rolling out: {exc}", level="error")
    stopped = apply_state(runner, cluster, failed, present=False, secret=None, actor=actor)
    for name, (ok, text) in stopped.items():
        runner.log(f"{name}: slurmd {'stopped' if ok else 'not stopped'}: {text}", host=name,
                   level="info" if ok else "warning")


def scale_out(runner, cluster: Cluster, names: list[str], *, reason: str, drain_timeout: float, force: bool,
              actor) -> dict[str, tuple[bool, str]]:
    """Drain, wait for running jobs, remove, apply, stop slurmd; {slurm name: (ok, message)}."""
    members = list(ClusterNode.objects.filter(cluster=cluster, slurm_name__in=names).select_related("node"))
    results: dict[str, tuple[bool, str]] = {n: (False, "not a node of the cluster") for n in names
                                           if n not in {m.slurm_name for m in members}}
    names = [m.slurm_name for m in members]
    if not names:
        return results
    client = connection.controller_client(cluster, purpose=f"job {runner.job_id} scale down", actor=actor)
    runner.step(f"Drain {', '.join(names)}")
    try:
        node_states.apply_action(cluster, names, node_states.NodeStateAction.DRAIN, reason, actor=actor,
                                 purpose=f"job {runner.job_id} drain")
    except SlurmError as exc:
        raise JobFailed(f"{cluster.name}: drain: {exc}") from None
    runner.step(f"Wait for running jobs (at most {drain_timeout:g} s)")
    words = wait_states(runner, client, names, DRAINED_STATES, drain_timeout, "running jobs to end")
    busy = [n for n in names if words.get(n) not in DRAINED_STATES | {"down", "missing"}]
    if busy and not force:
        raise JobFailed(f"{', '.join(busy)} still run jobs after {drain_timeout:g} s: they stay drained; scale "
                        "down again later, or with force to remove them anyway")
    if busy:
        runner.log(f"force: removing {', '.join(busy)} although they still run jobs", level="warning")
    runner.step("Remove the nodes from the configuration")
    for member in members:
        managed.remove_node(actor, member)
    runner.step(f"Apply the configuration of {cluster.name}")
    _apply_config(runner, cluster, client, actor)
    runner.step("Stop slurmd through Salt")
    nodes = [m.node for m in members if m.node is not None]
    stopped = apply_state(runner, cluster, nodes, present=False, secret=None, actor=actor)
    for member in members:
        ok, text = stopped.get(member.node.name, (False, "not a portal node")) if member.node else \
            (False, "not a portal node: slurmd not stopped")
        results[member.slurm_name] = (True, f"removed; slurmd stopped ({text})" if ok else
                                      f"removed from {cluster.name}; slurmd NOT stopped: {text}")
    return results


def _message(exc) -> str:
    errors = getattr(exc, "errors", None) or getattr(exc, "detail", None)
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in errors.items())
    return str(exc)


def report(runner, results: dict[str, tuple[bool, str]], verb: str) -> dict:
    for name, (ok, text) in results.items():
        runner.host_result(name, ok, text)
    failed = sorted(n for n, (ok, _) in results.items() if not ok)
    done = sorted(n for n, (ok, _) in results.items() if ok)
    runner.progress(100)
    if failed:
        raise JobFailed(f"{len(done)} of {len(results)} node(s) {verb}; failed: "
                        + "; ".join(f"{n}: {results[n][1]}" for n in failed)[:1500])
    return {"nodes": done, "failed": failed}


@register(SCALE_KIND, label="Scale nodes into a managed cluster (Salt)", permission=config_apply.MANAGE_PERMISSION,
          params=ScaleParams, queue="slurm", authorize=authorize("manage"), time_limit=1200)
def scale(runner, params, target):
    """Salt state slurm.node, add to the configuration, apply, wait until idle; failed nodes rolled out."""
    cluster = cluster_of(params)
    actor = runner.job.requester
    nodes = list(Node.objects.filter(pk__in=params["nodes"]).select_related("salt_minion__master"))
    secret = Secret.objects.filter(pk=params.get("munge_key")).first() if params.get("munge_key") else None
    results = scale_in(runner, cluster, nodes, partitions=params.get("partitions") or [], secret=secret, actor=actor)
    return report(runner, results, "scaled in")


@register(SCALE_DOWN_KIND, label="Scale nodes out of a managed cluster", permission=config_apply.MANAGE_PERMISSION,
          params=ScaleDownParams, queue="slurm", authorize=authorize("manage"),
          time_limit=lambda p: float(p.get("drain_timeout", 300)) + 900)
def scale_down(runner, params, target):
    """Drain, wait for running jobs (or the timeout), remove from the configuration, apply, stop slurmd."""
    cluster = cluster_of(params)
    results = scale_out(runner, cluster, list(params["nodes"]), reason=params["reason"],
                        drain_timeout=float(params["drain_timeout"]), force=bool(params.get("force")),
                        actor=runner.job.requester)
    return report(runner, results, "scaled down")
