"""Render + apply against the lab's real managed cluster (scripts/lab/slurm.sh): a partition by
`scontrol reconfigure`, a node removed and added back by a slurmctld restart, a broken base
template rolled back; healthy after each (nodes idle, a job runs). The lab is put back as the
session found it when each test ends (other lab tests share it)."""
from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from apps.clusters import config_jobs, managed, services
from apps.clusters.management.commands.lab_register_clusters import managed_fields
from apps.clusters.models import Cluster, ClusterKind, ClusterNode
from apps.jobs.execution import execute
from apps.jobs.models import Job
from apps.nodes import facts, remote
from apps.nodes.models import Node

from ..conftest import wait_for_job
from ..labshell import lab_out as on

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, users)"),
              pytest.mark.django_db(transaction=True)]  # the job log is flushed by its own thread

def run_job(t, *options) -> str:
    """sbatch a tiny job (script on stdin) and wait until it completes; returns its node list."""
    job_id = on(t.inv, t.login, ["sbatch", "--parsable", "-t", "1", "-o", "/dev/null", *options],
                stdin="#!/bin/sh\ntrue\n").strip()
    deadline, out = time.monotonic() + 60, ""
    while time.monotonic() < deadline:
        out = on(t.inv, t.login, ["scontrol", "show", "job", "-o", job_id])
        if "JobState=COMPLETED" in out:
            return out.split(" NodeList=", 1)[1].split()[0]
        assert "JobState=FAILED" not in out and "JobState=CANCELLED" not in out, out
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not complete: {out}")


def sinfo(t) -> dict[str, tuple[str, str]]:
    """node -> (state, partitions) as Slurm reports them now."""
    out = on(t.inv, t.login, ["sinfo", "-h", "-N", "-o", "%N|%T|%P|%G"])
    states = {}
    for line in out.split():
        name, state, partition, gres = line.split("|")
        old = states.get(name, (state, "", gres))
        states[name] = (state, ",".join(filter(None, [old[1], partition.rstrip("*")])), gres)
    return states


def wait_idle(t, names, timeout=30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        states = sinfo(t)
        if all(states.get(n, ("",))[0] == "idle" for n in names) or time.monotonic() > deadline:
            return states
        time.sleep(0.3)


def apply(t) -> Job:
    job = config_jobs.start_apply(t.admin, t.cluster)
    execute(job.pk)
    return Job.objects.get(pk=job.pk)


def job_log(job) -> str:
    return "\n".join(job.events.values_list("message", flat=True))


@pytest.fixture
def lab_cluster(slurm_lab, fleet):
    lab = slurm_lab.slurm.managed
    original = {path: Path(path).read_text() for path in (lab.slurm_conf, lab.gres_conf)}
    cluster = Cluster.objects.create(name=lab.name, kind=ClusterKind.MANAGED,
                                     controller=fleet["nodes"][lab.controller_host], reuse_config=False,
                                     reuse_munge=False, reuse_database=False, **managed_fields(lab))
    services.discover(cluster)
    t = SimpleNamespace(lab=lab, cluster=cluster, admin=fleet["admin"], nodes=fleet["nodes"], inv=slurm_lab,
                        login=slurm_lab.slurm_login(lab))
    assert set(cluster.members.values_list("slurm_name", flat=True)) == set(lab.node_names)
    yield t
    if any(Path(path).read_text() != text for path, text in original.items()):
        for path, text in original.items():
            Path(path).write_text(text)
        on(t.inv, t.login, lab.control["restart_slurmctld"], timeout=120)
        on(t.inv, t.login, lab.control["reconfigure"])
        wait_idle(t, lab.node_names)


def test_new_partition_by_reconfigure_and_a_job_runs_in_it(lab_cluster):
    t = lab_cluster
    target = t.lab.node_names[1]
    managed.create_partition(t.admin, t.cluster, name="gpu", nodes=[target], max_time="60",
                             allow_accounts=[t.lab.account], options={"MaxNodes": "1"})
    job = apply(t)
    assert job.status == "succeeded", job.error
    assert job.result["action"] == "reconfigure" and job.result["changed"]
    log = job_log(job)
    assert "+PartitionName=gpu Nodes=" + target in log and "Verify" in log
    backup = job.result["backups"][t.lab.slurm_conf]
    assert Path(backup).exists() and Path(backup).parent == Path(t.lab.slurm_conf).parent
    states = wait_idle(t, t.lab.node_names)
    assert all(states[n][0] == "idle" for n in t.lab.node_names), states
    assert "gpu" in states[target][1].split(",")
    assert run_job(t, "-p", "gpu") == target
    # Applying again finds nothing to change and writes nothing.
    again = apply(t)
    assert again.status == "succeeded" and again.result["action"] == "none", again.error


def test_node_removed_then_added_back_by_restart(lab_cluster):
    t = lab_cluster
    last = t.lab.node_names[-1]
    others = [n for n in t.lab.node_names if n != last]
    managed.remove_node(t.admin, ClusterNode.objects.get(cluster=t.cluster, slurm_name=last))
    job = apply(t)
    assert job.status == "succeeded", job.error
    assert job.result["action"] == "restart" and job.result["restart_reasons"] == [f"nodes removed: {last}"]
    states = wait_idle(t, others)
    assert sorted(states) == sorted(others) and all(states[n][0] == "idle" for n in others), states
    conf = Path(t.lab.slurm_conf).read_text()
    assert f"NodeName={last} " not in conf and last not in Path(t.lab.gres_conf).read_text()

    # Back in, with hardware from the node's real facts and GPUs from its GPU inventory.
    node = t.nodes[last]
    outputs = {name: remote.run(node, facts.COMMANDS[name], timeout=20, purpose="test facts").stdout
               for name in ("cpuinfo", "meminfo")}
    node.facts = facts.parse(outputs)
    node.save(update_fields=["facts"])
    from apps.gpus.ingest import ingest

    gpus = t.lab.node(last).gpus
    ingest(node, {"version": 1, "inventory": [{"index": i, "uuid": f"GPU-{last}-{i}", "name": "NVIDIA H100"}
                                              for i in range(gpus)]}, source="agent")
    member = managed.add_node(t.admin, t.cluster, node=node, partitions=[t.lab.partition])
    assert member.cpus == node.facts["cpu_threads"]
    job = apply(t)
    assert job.status == "succeeded", job.error
    assert job.result["action"] == "restart" and job.result["restart_reasons"] == [f"nodes added: {last}"]
    states = wait_idle(t, t.lab.node_names)
    assert all(states[n][0] == "idle" for n in t.lab.node_names), states
    assert states[last][2] == f"gpu:{gpus}" and t.lab.partition in states[last][1]
    assert run_job(t, "-w", last, "--gres=gpu:1") == last


def test_broken_base_template_is_rolled_back_and_the_job_says_why(lab_cluster, tmp_path):
    t = lab_cluster
    before = Path(t.lab.slurm_conf).read_text()
    broken = tmp_path / "base.conf"
    broken.write_text(Path(t.lab.base_conf).read_text() + "NotARealOption=1\n")
    t.cluster.base_config_path = str(broken)
    t.cluster.save(update_fields=["base_config_path"])
    job = apply(t)
    assert job.status == "failed"
    assert "NotARealOption" in job.error and "restored" in job.error, job.error
    assert Path(t.lab.slurm_conf).read_text() == before
    states = wait_idle(t, t.lab.node_names)
    assert all(states[n][0] == "idle" for n in t.lab.node_names), states
    assert run_job(t) in t.lab.node_names


def test_reuse_config_cluster_is_never_written(lab_cluster):
    t = lab_cluster
    before = Path(t.lab.slurm_conf).read_text()
    Cluster.objects.filter(pk=t.cluster.pk).update(reuse_config=True)
    t.cluster.refresh_from_db()
    from apps.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as err:
        config_jobs.start_apply(t.admin, t.cluster)
    assert "reuse_config" in err.value.errors
    assert Path(t.lab.slurm_conf).read_text() == before and not Job.objects.exists()


def test_lab_register_clusters_registers_the_managed_cluster_and_the_external_controller(
        slurm_lab, make_user, settings, tmp_path):
    """What `make lab` runs after lab_register: the managed cluster (discovered by its job, its
    members linked to the lab's nodes) and the external cluster's controller ready to connect."""
    from django.core.management import call_command

    settings.MANAGED_NETWORKS_DIR = tmp_path / "networks"  # what the commands publish, for this test only
    admin = make_user("admin", superuser=True)
    call_command("lab_register", lab_dir=str(slurm_lab.lab_dir))
    call_command("lab_register_clusters", lab_dir=str(slurm_lab.lab_dir))
    lab, ext = slurm_lab.slurm.managed, slurm_lab.slurm.external
    cluster = Cluster.objects.get(name=lab.name)
    assert (cluster.kind, cluster.reuse_config, cluster.controller.name) == (ClusterKind.MANAGED, False,
                                                                           lab.controller_host)
    assert (cluster.conf_path, cluster.base_config_path, cluster.restart_command) == (
        lab.slurm_conf, lab.base_conf, lab.control["restart_slurmctld"])
    device = lab.nodes[0].gpu_devices[0]
    assert cluster.gres_file_pattern.format(node=lab.nodes[0].name, index=0) == device
    job = Job.objects.get(kind="clusters.discover")
    # Run it here, unless a suite's live worker took it from the queue first: then wait for it.
    outcome = execute(job.pk) or wait_for_job(job.pk, timeout=60).status
    assert outcome == "succeeded", Job.objects.get(pk=job.pk).error
    members = dict(cluster.members.values_list("slurm_name", "node__name"))
    assert members == {name: name for name in lab.node_names}

    controller = Node.objects.get(name=ext.controller_host)
    preview = services.test_connection(admin, controller=controller)
    assert preview["ok"], preview
    assert preview["cluster_name"] == ext.name and preview["node_count"] == len(ext.node_names)

    call_command("lab_register_clusters", lab_dir=str(slurm_lab.lab_dir))  # idempotent: updates, refreshes
    assert Cluster.objects.filter(name=lab.name).count() == 1
    assert Job.objects.filter(kind="clusters.discover").count() == 2

    # scaling on the lab: its munge key in the vault, slurm.node's lab pillar in var/lab/env's lines
    import io
    import json
    import shlex

    from apps.clusters import lab_scaling
    from apps.keyvault.models import Secret

    assert Secret.objects.get(name=lab_scaling.MUNGE_SECRET).kind == "munge_key"
    out = io.StringIO()
    call_command("lab_settings", lab_dir=str(slurm_lab.lab_dir), stdout=out)
    values = dict(shlex.split(line)[0].split("=", 1) for line in out.getvalue().splitlines())
    assert json.loads(values["AIMATRIX_SLURM_NODE_PILLAR"]) == lab_scaling.node_pillar(lab)


def test_gres_devices_that_do_not_exist_stop_the_apply_before_any_write(lab_cluster):
    t = lab_cluster
    before = {p: Path(p).read_text() for p in (t.lab.slurm_conf, t.lab.gres_conf)}
    backups = set(Path(t.lab.slurm_conf).parent.glob("*.bak-*"))
    t.cluster.gres_file_pattern = "/dev/no-such-gpu-dir/{node}/nvidia{index}"
    t.cluster.save(update_fields=["gres_file_pattern"])
    job = apply(t)
    assert job.status == "failed" and job.error.startswith(f"{t.lab.name}: validate: ")
    assert "/dev/no-such-gpu-dir/" in job.error and "nothing was written" in job.error
    assert {p: Path(p).read_text() for p in before} == before
    assert set(Path(t.lab.slurm_conf).parent.glob("*.bak-*")) == backups
