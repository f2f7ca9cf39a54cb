"""Node states, node health, the GPU drain and accounting against the lab's real managed Slurm
cluster (slurmctld, one slurmd per lab host, slurmdbd), reached over real SSH with strict host
keys, with a real worker running the jobs:

- drain and resume a node through the API and see it in Slurm (`sinfo`);
- kill a node's slurmd, wait until Slurm calls it not responding / down, and the health beat's
  repair job restarts slurmd and the node is idle again;
- a GPU failing (an XID 79 in the host's kernel log, read and ingested as the agent does) drains
  its node in Slurm with the reason; the operator setting the GPU ok again resumes it;
- a GPUs-per-job limit set through the portal makes Slurm itself hold back a job over it.
"""
from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from aimatrix_agent import nvsmi
from apps.clusters import health_sweep, services
from apps.clusters.models import Cluster, ClusterKind, ClusterNode, ProjectAccount, SlurmUser
from apps.events.models import Event
from apps.gpus import collect
from apps.gpus import services as gpus
from apps.gpus.ingest import ingest
from apps.gpus.models import Gpu, GpuHealth
from apps.nodes import remote
from apps.rbac.models import Membership, Project, ProjectRole
from devtools import lab_gpus

from ..conftest import wait_for_job
from ..labshell import lab_out as on, lab_run, poll

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, users)")]

def slurm_node(inv, managed, name) -> tuple[str, str]:
    """(state, reason) as `sinfo` prints them: e.g. ('drained', 'aimatrix: GPU 1 failed: ...')."""
    out = on(inv, inv.slurm_login(managed), ["sinfo", "-h", "-N", "-n", name, "-o", "%T|%E"]).strip()
    state, _, reason = out.splitlines()[0].partition("|")
    return state, reason


@pytest.fixture
def lab_cluster(slurm_lab, fleet):
    """The lab's managed cluster as the portal knows it (discovered). The lab made its user (the
    portal's SSH account) a Slurm administrator: slurmctld takes node state changes only from one."""
    managed = slurm_lab.slurm.managed
    login = slurm_lab.slurm_login(managed)
    assert on(slurm_lab, login, ["sacctmgr", "-n", "-P", "show", "user", login.user, "format=adminlevel"]).strip() \
        == "Administrator"
    cluster = Cluster.objects.create(name=managed.name, kind=ClusterKind.MANAGED,
                                     controller=fleet["nodes"][managed.controller_host], reuse_config=False,
                                     reuse_munge=False, reuse_database=False, conf_path=managed.slurm_conf,
                                     slurmd_restart_command=managed.control["slurmd_restart"])
    services.discover(cluster, actor=fleet["admin"])
    target = managed.node_names[-1]  # never the controller's host
    yield {"cluster": cluster, "managed": managed, "admin": fleet["admin"], "target": target, "login": login,
           "node": fleet["nodes"][target]}
    # Leave the lab as it was: every node in service.
    on(slurm_lab, slurm_lab.host(target), managed.control["slurmd_start"])
    state, _ = slurm_node(slurm_lab, managed, target)
    if state != "idle":
        on(slurm_lab, login, ["scontrol", "update", f"NodeName={target}", "State=RESUME"])


def test_drain_and_resume_through_the_api(api, live_worker, slurm_lab, lab_cluster):
    c, target = lab_cluster["cluster"], lab_cluster["target"]
    client = api(lab_cluster["admin"])
    url = f"/api/v1/clusters/{c.pk}/nodes/manage/"
    reason = "portal test: $(reboot) `id` stays text"
    resp = client.post(url, {"nodes": [target], "action": "drain", "reason": reason}, format="json")
    assert resp.status_code == 202, resp.content
    job = wait_for_job(resp.json()["job"], timeout=60)
    assert job.status == "succeeded", job.error
    state, shown = slurm_node(slurm_lab, lab_cluster["managed"], target)
    assert state == "drained" and shown == reason
    member = ClusterNode.objects.get(cluster=c, slurm_name=target)
    assert "DRAIN" in member.state and member.reason == reason
    others = {n: slurm_node(slurm_lab, lab_cluster["managed"], n)[0] for n in lab_cluster["managed"].node_names
              if n != target}
    assert set(others.values()) == {"idle"}, others

    resp = client.post(url, {"nodes": [target], "action": "resume"}, format="json")
    job = wait_for_job(resp.json()["job"], timeout=60)
    assert job.status == "succeeded", job.error
    # Right after RESUME Slurm shows `idle*` for a moment, until the node's slurmd registers again.
    poll(lambda: slurm_node(slurm_lab, lab_cluster["managed"], target)[0], lambda s: s == "idle", 30, "idle")


def test_health_job_restarts_a_killed_slurmd(live_worker, slurm_lab, lab_cluster):
    managed, target, c = lab_cluster["managed"], lab_cluster["target"], lab_cluster["cluster"]
    on(slurm_lab, slurm_lab.host(target), managed.control["slurmd_stop"])
    # SlurmdTimeout is 20 s in the lab: slurmctld marks the node down ("Not responding").
    poll(lambda: slurm_node(slurm_lab, managed, target), lambda s: s[0].startswith("down"), 90,
         f"{target} down after its slurmd was killed")
    found = health_sweep.sweep()
    assert found[c.name]["nodes"] == [target], found
    job = wait_for_job(found[c.name]["repair_job"], timeout=150)
    assert job.status == "succeeded", job.error
    assert job.requester is None and job.kind == "clusters.health"
    result = job.events.filter(kind="host", host=target).get()
    assert result.data["ok"] is True and "restarted slurmd" in result.data["done"][0], result.data
    assert result.data["before"].startswith("DOWN")
    assert slurm_node(slurm_lab, managed, target)[0] == "idle"


def _agent_xid_push(inv, node, host):
    """What the node agent does: nvidia-smi for the bus ids, the kernel log for Xid lines, pushed."""
    smi = remote.run(node, list(nvsmi.QUERY_GPU_ARGV), timeout=30, purpose="test agent").stdout
    log = remote.run(node, ["dmesg"], timeout=30, purpose="test agent").stdout
    events = nvsmi.xid_events(nvsmi.parse_xid_log(log), nvsmi.parse_query_gpu(smi),
                              timezone.now().isoformat().replace("+00:00", "Z"))
    assert events, f"no Xid line in {host}'s kernel log"
    return ingest(node, {"version": 1, "events": events}, source="agent")


def test_failed_gpu_drains_its_node_and_recovery_resumes_it(live_worker, slurm_lab, lab_cluster):
    managed, target, node = lab_cluster["managed"], lab_cluster["target"], lab_cluster["node"]
    collect.collect_node(node, purpose="test inventory")
    assert Gpu.objects.filter(node=node).count() == managed.node(target).gpus
    try:
        lab_gpus.throw_xid(slurm_lab, target, 1, 79)
        _agent_xid_push(slurm_lab, node, target)
        gpu = Gpu.objects.get(node=node, index=1)
        assert gpu.health == GpuHealth.FAILED
        state, reason = poll(lambda: slurm_node(slurm_lab, managed, target), lambda s: s[0] == "drained", 60,
                             f"{target} drained for its failed GPU")
        assert reason.startswith("aimatrix: GPU 1 failed: XID 79"), reason
        assert ClusterNode.objects.get(pk=node.cluster_member.pk).drained_by_portal
        assert Event.objects.filter(type="node.health_changed", data__action="drain",
                                    data__slurm_node=target).exists()

        gpus.update_gpu(lab_cluster["admin"], gpu, health=GpuHealth.OK, health_reason="replaced")
        poll(lambda: slurm_node(slurm_lab, managed, target), lambda s: s[0] == "idle", 60,
             f"{target} resumed once its GPUs are healthy")
        assert not ClusterNode.objects.get(pk=node.cluster_member.pk).drained_by_portal
    finally:
        lab_gpus.reset(slurm_lab, target)


def test_gpus_per_job_limit_set_in_the_portal_is_enforced_by_slurm(api, live_worker, slurm_lab, lab_cluster,
                                                                     make_user):
    c, login, managed = lab_cluster["cluster"], lab_cluster["login"], lab_cluster["managed"]
    group = Group.objects.create(name="project:quota")
    project = Project.objects.create(name="quota", group=group)
    alice = make_user("alice")
    Membership.objects.create(project=project, user=alice, role=ProjectRole.MEMBER)
    SlurmUser.objects.create(user=alice, cluster=c, username=login.user)
    client = api(lab_cluster["admin"])
    account = "quota1"
    try:
        resp = client.post(f"/api/v1/clusters/{c.pk}/accounts/",
                           {"project": "quota", "account": account, "gpus_per_job": 1, "max_wall_min": 30},
                           format="json")
        assert resp.status_code == 201, resp.content
        diff = client.get(f"/api/v1/clusters/{c.pk}/accounts/diff/").json()
        assert diff["ok"] and not diff["in_sync"], diff
        commands = [cmd["command"] for cmd in diff["commands"]]
        assert any(f"add account {account}" in cmd and "MaxTRES=gres/gpu=1" in cmd for cmd in commands), commands
        assert any(f"add user {login.user} account={account}" in cmd for cmd in commands), commands

        resp = client.post(f"/api/v1/clusters/{c.pk}/accounts/apply/")
        assert resp.status_code == 202, resp.content
        job = wait_for_job(resp.json()["job"], timeout=90)
        assert job.status == "succeeded", job.error
        assert ProjectAccount.objects.get(account=account).drift == []
        assert client.get(f"/api/v1/clusters/{c.pk}/accounts/diff/").json()["in_sync"] is True

        script = "#!/bin/sh\nsleep 30\n"
        argv = ["sbatch", "--parsable", "-A", account, "-p", managed.partition, "--gres=gpu:2", "-J", "over-limit"]
        result = lab_run(slurm_lab, login, argv, stdin=script.encode(), timeout=30)
        if result.ok:  # accepted, then held back by Slurm itself with the limit as its reason
            job_id = result.stdout.strip().split(";")[0]
            try:
                reason = poll(lambda: on(slurm_lab, login, ["squeue", "-h", "-j", job_id, "-o", "%T|%r"]).strip(),
                              lambda s: s.startswith("PENDING|Assoc"), 30, "the job held by the limit")
                # 22.05 names the GRES form of the limit (AssocMaxGRESPerJob); later ones MaxTRES.
                assert reason.split("|")[1] in ("AssocMaxGRESPerJob", "AssocMaxTRESPerJob"), reason
            finally:
                on(slurm_lab, login, ["scancel", job_id])
        else:  # refused at submission
            assert "limit" in result.stderr.lower() or "policy" in result.stderr.lower(), result.stderr

        # Drift: a limit changed behind the portal's back shows on the next check.
        on(slurm_lab, login, ["sudo", "-n", "sacctmgr", "-i", "modify", "account", "where", f"name={account}", "set",
                              "MaxTRES=gres/gpu=4"])
        resp = client.post(f"/api/v1/clusters/{c.pk}/accounts/check/")
        job = wait_for_job(resp.json()["job"], timeout=60)
        assert job.status == "succeeded", job.error
        drift = ProjectAccount.objects.get(account=account).drift
        assert drift and "gres/gpu=1" in " ".join(drift), drift
    finally:
        on(slurm_lab, login, ["sudo", "-n", "sacctmgr", "-i", "delete", "account", "where", f"name={account}"])
