"""Workflows of the GPU resource management seed as composite jobs (queue slurm), each step
streamed live on the job page, resumable after a worker crash:

  deploy   power on through the BMC, optional PXE boot, wait for SSH, enroll (accept the minion's
           key by the fingerprint given, or check it is accepted already; with `install_minion`, a
           node without an accepted minion gets one over SSH as the batch install does: OS
           detected, minion installed, token enrollment, key accepted by its reported
           fingerprint), install and scale into
           the cluster (state.apply slurm.node + configuration + apply + wait until idle: the
           scaling job's steps), health check (Slurm shows the node idle, the minion answers)
  cleanup  drain and scale down (wait for running jobs, remove, apply, stop slurmd through Salt),
           power off through the BMC

A workflow IS its job (kinds `workflows.deploy` / `workflows.cleanup`); a resumed run is a job
with `retry_of` pointing at the run it continues. Each finished step is written at once as an
event of the job (data `workflow_done`), so a run started again (the job page's Retry, or
automatically when the worker running it was lost: `resume_lost`, at most MAX_RESUMES times)
skips the steps the chain of runs already finished and continues with the next. Every wait has a
deadline (power, SSH, Salt, Slurm), so a run never hangs: it ends with the reason.
"""
from __future__ import annotations

import time

from django.db import transaction
from rest_framework import serializers

from apps.core.audit import record_audit
from apps.core.errors import Forbidden, InvalidInput
from apps.jobs.events import append_event
from apps.jobs.models import EventKind, Job, JobEvent, JobStatus
from apps.jobs.registry import register
from apps.jobs.runner import JobFailed
from apps.jobs.services import start_job
from apps.nodes import remote, salt_install_job
from apps.nodes.bmc import SETTLES_IN, BmcError, BootDevice, PowerAction, wait_for_power
from apps.nodes.models import Bmc, Node
from apps.nodes.salt import SaltError, SaltKeyRefused, SaltRole
from apps.nodes.salt_models import SaltKeyState
from apps.nodes.salt_services import SaltUnavailable, client_for
from apps.rbac.permissions import can

from . import connection, scaling, scaling_jobs, scaling_pillar
from .models import Cluster, ClusterNode
from .slurm.errors import SlurmError

DEPLOY = "workflows.deploy"
CLEANUP = "workflows.cleanup"
KINDS = (DEPLOY, CLEANUP)
MAX_RESUMES = 2
POWER_DEADLINE_S = 120.0
SSH_DEADLINE_S = 300.0
PING_DEADLINE_S = 60.0
LOST_WORKER = ("was lost", "stopped sending heartbeats")


class DeployParams(serializers.Serializer):
    node = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    cluster = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    pxe = serializers.BooleanField(default=False)
    fingerprint = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    munge_key = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False, allow_null=True)
    partitions = serializers.ListField(child=serializers.CharField(max_length=63), required=False, default=list)
    install_minion = serializers.BooleanField(required=False)
    minion_id = serializers.CharField(max_length=253, required=False, allow_blank=True)
    portal_url = serializers.CharField(max_length=300, required=False, allow_blank=True)

    def validate(self, attrs):
        if attrs.get("install_minion"):
            try:
                attrs["portal_url"] = salt_install_job.check_portal_url(attrs.get("portal_url", ""))
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"portal_url": exc.detail}) from None
        return attrs


class CleanupParams(serializers.Serializer):
    node = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    cluster = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    reason = serializers.CharField(max_length=200, default="cleanup workflow")
    drain_timeout = serializers.IntegerField(min_value=0, max_value=scaling.DRAIN_WAIT_MAX_S,
                                             default=scaling.DRAIN_WAIT_DEFAULT_S)
    force = serializers.BooleanField(default=False)
    power_off = serializers.BooleanField(default=True)


def _authorize(user, params):
    cluster = Cluster.objects.filter(pk=params["cluster"]).first()
    node = Node.objects.filter(pk=params["node"]).first()
    if cluster is None or not can(user, cluster, "view"):
        raise InvalidInput({"cluster": ["Unknown cluster."]})
    if node is None or not can(user, node, "view"):
        raise InvalidInput({"node": ["Unknown node."]})
    if not can(user, cluster, "manage") or not can(user, node, "manage"):
        raise Forbidden(f"You may not run workflows on {node.name} and {cluster.name}.")


# -- starting ------------------------------------------------------------------------------------

def _check(actor, cluster: Cluster, node: Node) -> None:
    scaling.check_may_scale(actor, cluster)
    if not can(actor, node, "view"):
        raise InvalidInput({"node": ["Unknown node."]})
    if not can(actor, node, "manage") or not actor.has_perm("nodes.manage_node"):
        raise Forbidden(f"You may not power {node.name} on or off.")


def start_deploy(actor, cluster: Cluster, node: Node, *, pxe: bool = False, fingerprint: str = "",
                 munge_key=None, partitions=None, install_minion: bool = False, minion_id: str = "",
                 portal_url: str = "") -> Job:
    """Validate and start the deploy workflow; one audit entry names its job."""
    _check(actor, cluster, node)
    if install_minion:
        salt_install_job.check_may_install(actor)
    member = ClusterNode.objects.filter(node=node).select_related("cluster").first()
    if member is not None and member.cluster_id != cluster.pk:
        raise InvalidInput({"node": [f"{node.name} is a node of {member.cluster.name}."]})
    if not hasattr(node, "bmc"):
        raise InvalidInput({"node": [f"{node.name} has no BMC: the workflow powers it on through one."]})
    secret = scaling.munge_secret(actor, cluster, munge_key)
    params = {"node": node.pk, "cluster": cluster.pk, "pxe": bool(pxe), "fingerprint": (fingerprint or "").strip(),
              "munge_key": secret.pk if secret else None, "partitions": scaling.partitions_for(cluster, partitions)}
    if install_minion:
        params.update(install_minion=True, minion_id=minion_id or "", portal_url=portal_url)
    with transaction.atomic():
        job = start_job(actor, DEPLOY, params, target=node, audit=False)
        record_audit("workflow.deploy", actor=actor, obj=cluster,
                     after={"node": node.name, "pxe": params["pxe"], "job": job.pk})
    return job


def start_cleanup(actor, cluster: Cluster, node: Node, *, reason: str = "", drain_timeout=None, force: bool = False,
                  power_off: bool = True) -> Job:
    _check(actor, cluster, node)
    if not ClusterNode.objects.filter(node=node, cluster=cluster).exists():
        raise InvalidInput({"node": [f"{node.name} is not a node of {cluster.name}."]})
    text = scaling.node_states.clean_reason(reason or "cleanup workflow", required=True)
    timeout = scaling.DRAIN_WAIT_DEFAULT_S if drain_timeout in (None, "") else drain_timeout
    if not isinstance(timeout, int) or not 0 <= timeout <= scaling.DRAIN_WAIT_MAX_S:
        raise InvalidInput({"drain_timeout": [f"Seconds between 0 and {scaling.DRAIN_WAIT_MAX_S}."]})
    params = {"node": node.pk, "cluster": cluster.pk, "reason": text, "drain_timeout": timeout,
              "force": bool(force), "power_off": bool(power_off)}
    with transaction.atomic():
        job = start_job(actor, CLEANUP, params, target=node, audit=False)
        record_audit("workflow.cleanup", actor=actor, obj=cluster,
                     after={"node": node.name, "power_off": params["power_off"], "job": job.pk})
    return job


def visible_workflows(user):
    from apps.jobs.services import visible_jobs

    return visible_jobs(user).filter(kind__in=KINDS)


# -- the step machinery ------------------------------------------------------------------------------

def chain(job: Job) -> list[int]:
    """This run and the runs it continues (retry_of), newest first."""
    ids, seen = [], set()
    current = job
    while current is not None and current.pk not in seen:
        ids.append(current.pk)
        seen.add(current.pk)
        current = current.retry_of
    return ids


def steps_done(job: Job) -> list[str]:
    """Steps finished by this run or the runs it continues (events written as each one ended)."""
    rows = JobEvent.objects.filter(job_id__in=chain(job), kind=EventKind.LOG, data__has_key="workflow_done")
    return list(dict.fromkeys(rows.order_by("id").values_list("data__workflow_done", flat=True)))


def run_steps(runner, steps) -> dict:
    """Run (name, function) steps in order, skipping those the chain finished; each finished step
    is recorded at once (an event), so a later run continues after it."""
    done = steps_done(runner.job)
    if done:
        runner.log(f"continuing job #{runner.job.retry_of_id}: done already: {', '.join(done)}")
    results = {}
    for index, (name, func) in enumerate(steps):
        if name in done:
            continue
        runner.step(name, progress=int(100 * index / len(steps)))
        results[name] = func() or ""
        append_event(runner.job_id, EventKind.LOG, f"step done: {name}: {results[name]}"[:500],
                     data={"workflow_done": name})
    runner.progress(100)
    return {"steps": [name for name, _ in steps], "skipped": done, "results": results}


# -- steps --------------------------------------------------------------------------------------

def _power(runner, node: Node, action: PowerAction) -> str:
    desired = SETTLES_IN[action].value
    try:
        client = remote.bmc_client(node, f"job {runner.job_id} workflow power {action.value}", runner.job.requester)
        before = client.power_state()
        if before != desired:
            client.power(action)
        waited = wait_for_power(client, desired, POWER_DEADLINE_S,
                                sleep=runner.waiting(f"power {desired}", POWER_DEADLINE_S))
    except (BmcError, remote.NodeUnavailable) as exc:
        raise JobFailed(f"{node.name}: power {action.value}: {exc}") from None
    Bmc.objects.filter(node=node).update(power_state=desired)
    return f"power {before} -> {desired} after {waited:.1f} s"


def _pxe(runner, node: Node) -> str:
    try:
        client = remote.bmc_client(node, f"job {runner.job_id} workflow PXE boot", runner.job.requester)
        client.set_boot_device(BootDevice.PXE, False)
        client.power(PowerAction.RESET)
        wait_for_power(client, "on", POWER_DEADLINE_S, sleep=runner.waiting("power on after PXE", POWER_DEADLINE_S))
    except (BmcError, remote.NodeUnavailable) as exc:
        raise JobFailed(f"{node.name}: PXE boot: {exc}") from None
    return "boot from PXE once, reset"


def _wait_ssh(runner, node: Node) -> str:
    run = connection.runner_for(node, purpose=f"job {runner.job_id} workflow wait for SSH", actor=runner.job.requester)
    sleep = runner.waiting(f"SSH on {node.name}", SSH_DEADLINE_S)
    end, last = time.monotonic() + SSH_DEADLINE_S, ""
    while True:
        try:
            result = run(["true"], timeout=15)
            if result.exit_status == 0:
                return "SSH answers"
            last = f"exit {result.exit_status}"
        except SlurmError as exc:  # connection.runner_for turns transport failures into these
            last = str(exc)
        if time.monotonic() >= end:
            raise JobFailed(f"{node.name}: no SSH after {SSH_DEADLINE_S:g} s: {last}")
        sleep(2.0)


def _install_minion(runner, node: Node, params) -> str:
    """The batch install's steps for this one node (apps/nodes/salt_install.py)."""
    from apps.nodes.salt_install import InstallFailed, install_one, minion_source
    from apps.nodes.salt_services import default_master

    master = default_master()
    if master is None:
        raise JobFailed(f"{node.name}: no Salt master to enroll with (none, or several, are configured)")
    try:
        out = install_one(node, actor=runner.job.requester, master=master, minion_id=params.get("minion_id") or node.name,
                          portal_url=params["portal_url"], source=minion_source(),
                          purpose=f"job {runner.job_id} workflow install minion",
                          log=lambda step, message: runner.log(f"{step}: {message}", host=node.name, step=str(step)))
    except InstallFailed as exc:
        raise JobFailed(f"{node.name}: minion install, {exc.step}: {exc}") from None
    return (f"salt-minion {out['version']} on {out['os']} enrolled as {out['minion_id']}; key accepted, "
            f"answered a ping after {out['ping_s']:g} s")


def _enroll(runner, node: Node, params) -> str:
    fingerprint = params.get("fingerprint") or ""
    minion = scaling.minion_of(node)
    if params.get("install_minion") and (minion is None or minion.key_state != SaltKeyState.ACCEPTED):
        return _install_minion(runner, node, params)
    if minion is None:
        raise JobFailed(f"{node.name}: no Salt minion: enroll it first (Salt enrollment with a one-time token), "
                        "or deploy with install_minion")
    try:
        api = client_for(minion.master, actor=runner.job.requester, purpose=f"job {runner.job_id} workflow enroll",
                         role=SaltRole.ADMIN)
        key = api.key(minion.minion_id)
        if key is not None and key.state.value == SaltKeyState.ACCEPTED:
            text = "key accepted already"
        elif fingerprint:
            key = api.accept(minion.minion_id, fingerprint)
            text = "key accepted by its fingerprint"
        else:
            state = key.state.value if key else "absent"
            raise JobFailed(f"{node.name}: minion key is {state}: give its fingerprint to accept it")
        type(minion).objects.filter(pk=minion.pk).update(key_state=SaltKeyState.ACCEPTED,
                                                          key_fingerprint=key.fingerprint or "")
        seconds = api.wait_for_ping(minion.minion_id, timeout=PING_DEADLINE_S)
    except SaltKeyRefused as exc:
        raise JobFailed(f"{node.name}: {exc}") from None
    except (SaltError, SaltUnavailable) as exc:
        raise JobFailed(f"{node.name}: Salt: {exc}") from None
    return f"{text}; answered a ping after {seconds:.1f} s"


def _scale_in(runner, cluster: Cluster, node: Node, params) -> str:
    member = ClusterNode.objects.filter(cluster=cluster, node=node).first()
    if member is not None:  # added by an earlier (lost) run of this workflow, or before it
        client = connection.controller_client(cluster, purpose=f"job {runner.job_id} workflow", actor=runner.job.requester)
        try:
            word = {n.name: scaling_jobs._state_word(n.state) for n in client.nodes([member.slurm_name])}.get(
                member.slurm_name, "missing")
        except SlurmError as exc:
            word = f"unknown ({exc})"
        if word in scaling_jobs.READY_STATES:
            return f"already a node of {cluster.name} ({word})"
        runner.log(f"{node.name} is in the configuration of {cluster.name} but Slurm shows it {word}: "
                   "it is rolled out and scaled in again")
        scaling_jobs.managed.remove_node(runner.job.requester, member)
    from apps.keyvault.models import Secret

    secret = Secret.objects.filter(pk=params.get("munge_key")).first() if params.get("munge_key") else None
    results = scaling_jobs.scale_in(runner, cluster, [node], partitions=params.get("partitions") or [],
                                    secret=secret, actor=runner.job.requester)
    ok, text = results.get(node.name, (False, "no result"))
    runner.host_result(node.name, ok, text)
    if not ok:
        raise JobFailed(f"{node.name}: scale in: {text}")
    return text


def _health(runner, cluster: Cluster, node: Node) -> str:
    member = ClusterNode.objects.get(cluster=cluster, node=node)
    client = connection.controller_client(cluster, purpose=f"job {runner.job_id} workflow health", actor=runner.job.requester)
    words = scaling_jobs.wait_states(runner, client, [member.slurm_name], scaling_jobs.READY_STATES, 60.0,
                                     "the node to be idle")
    if words[member.slurm_name] not in scaling_jobs.READY_STATES:
        raise JobFailed(f"{node.name}: Slurm shows it {words[member.slurm_name]}")
    minion = scaling.minion_of(node)
    api = client_for(minion.master, actor=runner.job.requester, purpose=f"job {runner.job_id} workflow health",
                     role=SaltRole.VIEWER)
    api.wait_for_ping(minion.minion_id, timeout=PING_DEADLINE_S)
    return f"Slurm: {words[member.slurm_name]}; minion answers"


def _scale_out(runner, cluster: Cluster, node: Node, params) -> str:
    member = ClusterNode.objects.filter(cluster=cluster, node=node).first()
    if member is None:
        return f"not a node of {cluster.name} (any more)"
    results = scaling_jobs.scale_out(runner, cluster, [member.slurm_name], reason=params["reason"],
                                     drain_timeout=float(params["drain_timeout"]), force=bool(params["force"]),
                                     actor=runner.job.requester)
    ok, text = results[member.slurm_name]
    runner.host_result(node.name, ok, text)
    return text


@register(DEPLOY, label="Workflow: deploy a node into a cluster", permission="clusters.manage_cluster",
          params=DeployParams, queue="slurm", authorize=_authorize, time_limit=1800)
def deploy(runner, params, target):
    """Power on, optional PXE boot, wait for SSH, enroll, install and scale in, health check."""
    node = Node.objects.select_related("salt_minion__master").get(pk=params["node"])
    cluster = Cluster.objects.get(pk=params["cluster"])
    steps = [("Power on", lambda: _power(runner, node, PowerAction.ON))]
    if params.get("pxe"):
        steps.append(("PXE boot", lambda: _pxe(runner, node)))
    steps += [("Wait for SSH", lambda: _wait_ssh(runner, node)),
              ("Enroll (Salt key)", lambda: _enroll(runner, node, params)),
              ("Install and scale in", lambda: _scale_in(runner, cluster, node, params)),
              ("Health check", lambda: _health(runner, cluster, node))]
    return run_steps(runner, steps)


@register(CLEANUP, label="Workflow: clean a node out of a cluster", permission="clusters.manage_cluster",
          params=CleanupParams, queue="slurm", authorize=_authorize,
          time_limit=lambda p: float(p.get("drain_timeout", 300)) + 1200)
def cleanup(runner, params, target):
    """Drain and scale down, then power off."""
    node = Node.objects.select_related("salt_minion__master").get(pk=params["node"])
    cluster = Cluster.objects.get(pk=params["cluster"])
    steps = [("Drain and scale down", lambda: _scale_out(runner, cluster, node, params))]
    if params.get("power_off", True):
        steps.append(("Power off", lambda: _power(runner, node, PowerAction.OFF)))
    return run_steps(runner, steps)


def _forget_pillar(job: Job) -> None:
    """A run killed inside a Salt state run never removed its nodes' pillar (the munge key): do it now."""
    ids = job.params.get("nodes") if job.kind == scaling.SCALE_KIND else [job.params.get("node")]
    for node in Node.objects.filter(pk__in=[i for i in ids or [] if isinstance(i, int)]).select_related("salt_minion"):
        minion = scaling.minion_of(node)
        if minion is not None:
            try:
                scaling_pillar.remove(minion.minion_id)
            except (OSError, InvalidInput):
                pass


def resume_lost(sender, job_id, status, error, **kwargs) -> None:
    """A workflow whose worker was lost continues in a new run (retry_of), at most MAX_RESUMES times;
    the pillar a lost scaling run or workflow left behind is removed."""
    if status != JobStatus.FAILED or not any(text in (error or "") for text in LOST_WORKER):
        return
    job = Job.objects.filter(pk=job_id, kind__in=(*KINDS, scaling.SCALE_KIND)).select_related(
        "requester", "retry_of").first()
    if job is None:
        return
    _forget_pillar(job)
    if job.kind not in KINDS or job.requester is None:
        return
    if len(chain(job)) > MAX_RESUMES:
        append_event(job_id, EventKind.LOG, f"not resumed again: {MAX_RESUMES} runs were lost already",
                     data={"level": "warning"})
        return
    resumed = start_job(job.requester, job.kind, job.params, target=job.target, retry_of=job)
    append_event(job_id, EventKind.LOG, f"resumed as job #{resumed.pk} (it continues after the last finished step)",
                 data={"resumed_as": resumed.pk})
