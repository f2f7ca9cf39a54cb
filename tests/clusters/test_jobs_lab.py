"""Slurm jobs through the portal against the lab's real managed cluster (slurmctld, one slurmd per
lab host with fake GPU devices, slurmdbd), over real SSH with strict host keys:

- a GPU job submitted through the API runs as the submitter's mapped Slurm user (the lab user),
  and its output, read back through the portal, shows CUDA_VISIBLE_DEVICES;
- a job cancelled through the portal is CANCELLED after the queue sync, and sacct's history has it;
- a running GPU job's efficiency shows the utilization of exactly the GPUs it holds (each lab GPU
  is given a distinct utilization through the simulated nvidia-smi, collected agentlessly);
- injection payloads stay inert.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from apps.clusters import jobs_sync, services
from apps.clusters.models import Cluster, ClusterKind, ProjectAccount, SlurmJob, SlurmJobState, SlurmUser
from apps.gpus import collect
from apps.rbac.models import ProjectRole
from apps.rbac.services import _set_membership, create_project
from devtools import lab_gpus

from ..labshell import lab_out as on, poll

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, users)")]

@pytest.fixture
def lab(slurm_lab, fleet, make_user):
    """The lab's managed cluster as the portal knows it (discovered), the lab's Slurm account `lab`
    as a project's account, and a data developer in that project mapped to the lab user."""
    managed = slurm_lab.slurm.managed
    login = slurm_lab.slurm_login(managed)
    cluster = Cluster.objects.create(name=managed.name, kind=ClusterKind.MANAGED,
                                     controller=fleet["nodes"][managed.controller_host], reuse_config=False,
                                     reuse_munge=False, reuse_database=False, conf_path=managed.slurm_conf)
    services.discover(cluster, actor=fleet["admin"])
    cluster.refresh_from_db()
    project = create_project(None, "lab-jobs")
    ProjectAccount.objects.create(cluster=cluster, project=project, account="lab")
    dev = make_user("lab-dev")
    dev.groups.add(Group.objects.get(name="data-developer"))
    _set_membership(project, dev, ProjectRole.MEMBER)
    SlurmUser.objects.create(user=dev, username=login.user)
    for host in slurm_lab.hosts:
        lab_gpus.reset(slurm_lab, host.name)
    yield {"cluster": cluster, "managed": managed, "login": login, "dev": get_user_model().objects.get(pk=dev.pk),
           "nodes": fleet["nodes"], "admin": fleet["admin"]}
    for host in slurm_lab.hosts:
        lab_gpus.reset(slurm_lab, host.name)
    for job in SlurmJob.objects.filter(cluster=cluster, state__in=[SlurmJobState.PENDING, SlurmJobState.RUNNING]):
        on(slurm_lab, login, ["scancel", job.job_id])


def synced(cluster, job_id):
    jobs_sync.sync_cluster(cluster)
    return SlurmJob.objects.get(cluster=cluster, job_id=job_id)


def submit(client, lab, **values):
    answer = client.post(f"/api/v1/clusters/{lab['cluster'].pk}/jobs/", values, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def test_gpu_job_runs_as_the_mapped_user_and_its_output_shows_cuda_visible_devices(api, lab):
    client = api(lab["dev"])
    job = submit(client, lab, name="portal-gpu", gpus=1, time_limit_min=5,
                 script='#!/bin/bash\necho "user=$(id -un) node=$SLURMD_NODENAME cvd=$CUDA_VISIBLE_DEVICES"\n')
    assert job["user"] == lab["login"].user and job["account"] == "lab" and job["submitted_by"] == "lab-dev"
    row = poll(lambda: synced(lab["cluster"], job["job_id"]), lambda r: r.state == SlurmJobState.COMPLETED, 60,
               f"job {job['job_id']} to complete")
    assert row.user == lab["login"].user and row.project.name == "lab-jobs" and row.nodes
    out = poll(lambda: client.get(f"/api/v1/slurm-jobs/{row.pk}/output/?offset=0").json(),
               lambda o: "cvd=" in o["text"], 20, "the job's output")
    line = out["text"].strip().splitlines()[-1]
    assert line.startswith(f"user={lab['login'].user} node={row.nodes[0]} cvd=")
    assert line.split("cvd=")[1].isdigit()
    assert out["eof"] is True and out["running"] is False


def test_a_cancelled_job_is_cancelled_in_the_portal_and_in_the_history(api, lab):
    client = api(lab["dev"])
    job = submit(client, lab, name="portal-sleep", time_limit_min=5, script="#!/bin/bash\nsleep 300\n")
    poll(lambda: synced(lab["cluster"], job["job_id"]), lambda r: r.state == SlurmJobState.RUNNING, 30,
         "the job to run")
    answer = client.post(f"/api/v1/slurm-jobs/{job['id']}/cancel/")
    assert answer.status_code == 200, answer.content
    row = poll(lambda: synced(lab["cluster"], job["job_id"]), lambda r: r.state == SlurmJobState.CANCELLED, 30,
               "the portal to show it cancelled")
    assert row.ended_at is not None
    history = poll(lambda: client.get(f"/api/v1/clusters/{lab['cluster'].pk}/jobs/history/").json()["results"],
                   lambda rows: any(r["job_id"] == job["job_id"] for r in rows), 20, "sacct to have it")
    found = next(r for r in history if r["job_id"] == job["job_id"])
    assert (found["state"], found["user"], found["account"], found["name"]) == (
        "CANCELLED", lab["login"].user, "lab", "portal-sleep")


def test_efficiency_shows_exactly_the_gpus_the_job_holds(api, client, slurm_lab, lab):
    # Every lab GPU gets its own utilization: host h, GPU i -> 10*h + i + 1 (all different).
    expected = {}
    for h, node in enumerate(lab["managed"].nodes):
        for i in range(node.gpus):
            expected[(node.name, i)] = float(10 * h + i + 1)
            lab_gpus.set_gpu(slurm_lab, node.name, i, utilization_pct=expected[(node.name, i)])
    dev = api(lab["dev"])
    job = submit(dev, lab, name="portal-eff", gpus=2, time_limit_min=5, script="#!/bin/bash\nsleep 300\n")
    row = poll(lambda: synced(lab["cluster"], job["job_id"]),
               lambda r: r.state == SlurmJobState.RUNNING and r.gpu_indexes, 30, "the job to hold its GPUs")
    (node_name, held), = row.gpu_indexes.items()
    assert len(held) == 2
    time.sleep(1)  # samples after the start second Slurm reports
    counts = collect.collect(lab["nodes"].values(), purpose="test")
    assert counts["failed"] == 0, counts
    eff = dev.get(f"/api/v1/slurm-jobs/{row.pk}/efficiency/").json()
    assert {(g["node"], g["index"]) for g in eff["gpus"]} == {(node_name, i) for i in held}
    assert {(g["node"], g["index"]): g["util_avg"] for g in eff["gpus"]} == {
        (node_name, i): expected[(node_name, i)] for i in held}
    mean = sum(expected[(node_name, i)] for i in held) / 2
    assert eff["overall"]["util_avg"] == pytest.approx(mean, abs=0.1) and eff["final"] is False
    client.force_login(lab["dev"])
    page = client.get(f"/clusters/jobs/{row.pk}/").content.decode()
    for i in held:
        assert f'data-node="{node_name}" data-index="{i}"' in page
    assert page.count('<tr data-node="') == 2
    # When the job ends, the sync stores its summary: the same GPUs, final.
    assert dev.post(f"/api/v1/slurm-jobs/{row.pk}/cancel/").status_code == 200
    ended = poll(lambda: synced(lab["cluster"], job["job_id"]), lambda r: r.state == SlurmJobState.CANCELLED, 30,
                 "the job to end")
    stored = ended.gpu_efficiency
    assert stored["final"] is True and {(g["node"], g["index"]): g["util_avg"] for g in stored["gpus"]} == {
        (node_name, i): expected[(node_name, i)] for i in held}


def test_injection_payloads_stay_inert(api, slurm_lab, lab):
    client = api(lab["dev"])
    url = f"/api/v1/clusters/{lab['cluster'].pk}/jobs/"
    marker = f"/tmp/portal-pwned-{os.getpid()}"
    for field, value in (("name", f"x$(touch {marker})"), ("account", f"lab;touch {marker}"),
                         ("partition", f"batch`touch {marker}`")):
        answer = client.post(url, {field: value, "script": "#!/bin/bash\ntrue\n", "time_limit_min": 1},
                             format="json")
        assert answer.status_code == 400 and field in answer.json(), answer.content
    # A script is one stdin blob: the hostile text is the job's own business (here a comment),
    # never seen by a shell on the portal's side or in sbatch's argv.
    job = submit(client, lab, name="portal-inert", time_limit_min=1,
                 script=f"#!/bin/bash\n# '; touch {marker}; echo '$(touch {marker})\necho inert\n")
    poll(lambda: synced(lab["cluster"], job["job_id"]), lambda r: r.state == SlurmJobState.COMPLETED, 60,
         "the job to complete")
    assert not Path(marker).exists()
    assert on(slurm_lab, lab["login"], ["sh", "-c", f"test -e {marker} && echo yes || echo no"]).strip() == "no"
