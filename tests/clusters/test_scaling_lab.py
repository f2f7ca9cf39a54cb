"""Scaling through Salt against the real lab (lab Salt + lab Slurm + the fleet): two hosts outside
the managed cluster are checked, scaled in (state.apply slurm.node through salt-api, the
configuration applied, slurmd started by the state) and show idle in sinfo and in the portal; a
GPU job runs on them; one is scaled down (drained, removed, slurmd stopped through Salt).
While the scale runs, every process's command line is sampled from /proc: the munge key is in
none of them, nor in the stored Salt returns, the job's events, the master's job cache or the
Salt logs."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from apps.clusters import scaling
from apps.clusters.models import ClusterNode
from apps.clusters.slurm.hostlist import expand
from apps.nodes.salt_models import SaltRun

from ..labshell import ArgvSampler
from .scaling_fixtures import run, scaling_lab, slurmd_running  # noqa: F401  (fixture)
from .test_apply_lab import job_log, on, run_job, sinfo, wait_idle

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, users)"),
              pytest.mark.django_db(transaction=True)]


def files_containing(root: Path, needle: bytes) -> list[str]:
    found = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and needle in path.read_bytes():
                found.append(str(path))
        except OSError:
            continue
    return found


def test_scale_two_hosts_in_run_a_gpu_job_scale_one_down(scaling_lab):
    t = scaling_lab
    a, b = t.spare
    # readiness: keys accepted, ping, Salt version, Slurm installed
    rows = {r["node"]: r for r in scaling.check_salt(t.admin, t.cluster, [a, b, t.lab.controller_host])}
    assert rows[a]["ready"] and rows[b]["ready"], rows
    assert rows[a]["key_accepted"] and rows[a]["ping"] and rows[a]["salt_version"] == t.salt.version
    assert rows[a]["slurm_installed"] is True and rows[a]["slurm_version"]
    assert not rows[t.lab.controller_host]["ready"]
    assert any("already a node of" in r for r in rows[t.lab.controller_host]["reasons"])
    assert not slurmd_running(t, a) and not slurmd_running(t, b)

    needles = [t.munge_b64.encode(), t.munge_b64[:40].encode(), t.munge_key[:48]]
    sampler = ArgvSampler(needles)
    sampler.start()
    try:
        job = run(scaling.start_scale(t.admin, t.cluster, [a, b], munge_key=t.secret.name))
    finally:
        sampler.stop.set()
        sampler.join()
    log = job_log(job)
    assert job.status == "succeeded", f"{job.error}\n{log[-3000:]}"
    assert sampler.samples > 20 and sampler.hits == [], sampler.hits
    assert set(job.result["nodes"]) == {a, b} and job.result["failed"] == []
    assert all(job.result["hosts"][n]["ok"] for n in (a, b)), job.result["hosts"]
    assert "state.apply slurm.node" in log
    # Slurm and the portal agree: both idle, in the default partition
    states = wait_idle(t, [a, b])
    assert states[a][0] == "idle" and states[b][0] == "idle", states
    assert t.lab.partition in states[a][1].split(",")
    members = {m.slurm_name: m for m in ClusterNode.objects.filter(cluster=t.cluster, slurm_name__in=[a, b])}
    assert {n: m.state.lower() for n, m in members.items()} == {a: "idle", b: "idle"}
    assert slurmd_running(t, a) and slurmd_running(t, b)
    # the munge key is nowhere the portal or Salt keeps things
    assert t.munge_b64 not in log and t.munge_b64 not in str(job.result)
    for row in SaltRun.objects.filter(fun="state.apply"):
        assert t.munge_b64 not in str(row.returns) and t.munge_b64 not in str(row.arguments)
    salt_dir = t.lab_dir / "salt"
    assert files_containing(salt_dir / "master" / "root" / "var", t.munge_b64.encode()) == []
    assert files_containing(salt_dir / "minions", t.munge_b64.encode()) == []
    assert not list((t.pillar_dir / "aimatrix_nodes").glob("*.sls"))  # the pillar lived for the run only

    # a GPU job runs on the new nodes
    assert run_job(t, "-w", a, "--gres=gpu:1") == a
    assert set(expand(run_job(t, "-N", "2", "-w", f"{a},{b}", "--gres=gpu:1"))) == {a, b}

    # scaling the same nodes in again is refused by name
    with pytest.raises(Exception) as refused:
        scaling.start_scale(t.admin, t.cluster, [a], munge_key=t.secret.name)
    assert "already in a cluster" in str(getattr(refused.value, "errors", refused.value))

    # scale one down: drained, removed, slurmd stopped through Salt
    down = run(scaling.start_scale_down(t.admin, t.cluster, [b], reason="scaling test", drain_timeout=30))
    assert down.status == "succeeded", f"{down.error}\n{job_log(down)[-3000:]}"
    assert down.result["hosts"][b]["ok"] and "slurmd stopped" in down.result["hosts"][b]["message"]
    assert b not in sinfo(t) and not ClusterNode.objects.filter(cluster=t.cluster, slurm_name=b).exists()
    assert not slurmd_running(t, b) and slurmd_running(t, a)
    assert wait_idle(t, [a])[a][0] == "idle"
    on(t.inv, t.login, ["scontrol", "ping"])
