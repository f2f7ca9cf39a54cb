"""Node health without a cluster: which nodes the repair job takes (Slurm's own reasons only),
what it does for each (restart on the node's own host, wait, resume) and what it reports; the
beat's sweep starts one system job per cluster that needs it."""
import pytest
from django.utils import timezone

from apps.clusters import health_sweep, node_health
from apps.clusters.models import ClusterStatus
from apps.clusters.slurm import parsers
from apps.core.models import AuditEvent
from apps.jobs.execution import execute
from apps.jobs.models import Job

from .fake_slurm import node_line
from .ops_fixtures import cluster, fake_slurm, member, no_enqueue, project, sre  # noqa: F401


def record(state, reason=""):
    return parsers.nodes(node_line("lab-node1", state, reason))[0]


@pytest.mark.parametrize("reason", ["", "Not responding", "Kill task failed", "Node unexpectedly rebooted",
                                    "NOT RESPONDING", "Prolog error", "epilog error"])
def test_reasons_slurm_sets_itself(reason):
    assert node_health.set_by_slurm(reason)


@pytest.mark.parametrize("reason", ["replacing a DIMM", "aimatrix: GPU 2 failed: XID 79", "maintenance window",
                                    "not responding to my emails, drained by bob"])
def test_reasons_people_or_the_portal_gave(reason):
    assert not node_health.set_by_slurm(reason)


@pytest.mark.parametrize("state,reason,repair", [
    ("DOWN", "Not responding", True),
    ("DOWN+NOT_RESPONDING", "Not responding", True),
    ("IDLE+NOT_RESPONDING", "", True),
    ("IDLE+DRAIN", "Kill task failed", True),
    ("IDLE+DRAIN", "disk swap", False),
    ("IDLE+DRAIN", "aimatrix: GPU 0 failed: XID 79", False),
    ("DOWN", "operator: cabling", False),
    ("IDLE", "", False),
    ("MIXED", "", False),
    ("IDLE+POWERED_DOWN", "", False),
    ("DOWN+POWERED_DOWN", "", False),
])
def test_which_nodes_need_repair(state, reason, repair):
    assert node_health.needs_repair(record(state, reason)) is repair


pytestmark = pytest.mark.django_db


def test_repair_job_restarts_on_the_node_host_and_resumes(api, sre, cluster, fake_slurm, no_enqueue, settings):
    settings.SLURM_HEALTH_RESPOND_TIMEOUT = 0
    cluster.slurmd_restart_command = ["sudo", "-n", "/opt/lab/ctl", "slurmd-restart"]
    cluster.save()
    fake_slurm.state["lab-node10"] = ("DOWN", "Not responding")
    fake_slurm.state["lab-node1"] = ("IDLE+DRAIN", "swapping a fan")  # an operator's: left alone
    resp = api(sre).post(f"/api/v1/clusters/{cluster.pk}/health/", {}, format="json")
    assert resp.status_code == 202, resp.content
    assert AuditEvent.objects.filter(action="job.start").count() == 1
    job_id = resp.json()["job"]
    assert execute(job_id) == "succeeded", Job.objects.get(pk=job_id).error
    assert ("command", ("sudo", "-n", "/opt/lab/ctl", "slurmd-restart")) in fake_slurm.calls
    assert fake_slurm.updates() == [("update", ("lab-node10",), "RESUME", "")]
    assert fake_slurm.state["lab-node1"] == ("IDLE+DRAIN", "swapping a fan")
    result = Job.objects.get(pk=job_id).events.get(kind="host", host="lab-node10")
    assert result.data["ok"] is True and result.data["before"] == "DOWN" and result.data["after"] == "IDLE"
    assert result.data["done"] == ["restarted slurmd on lab-node10", "resumed"]


def test_a_node_still_silent_after_the_restart_fails_the_job_saying_so(api, sre, cluster, fake_slurm, no_enqueue,
                                                                       settings):
    settings.SLURM_HEALTH_RESPOND_TIMEOUT = 0
    fake_slurm.state["lab-node10"] = ("DOWN+NOT_RESPONDING", "Not responding")
    job_id = api(sre).post(f"/api/v1/clusters/{cluster.pk}/health/", {}, format="json").json()["job"]
    assert execute(job_id) == "failed"
    job = Job.objects.get(pk=job_id)
    assert "lab-node10" in job.error
    result = job.events.get(kind="host", host="lab-node10")
    assert result.data["ok"] is False and "has not heard from lab-node10" in result.message
    assert fake_slurm.updates() == []


def test_default_restart_argv_for_real_clusters(cluster):
    assert node_health.restart_argv(cluster) == ["sudo", "-n", "systemctl", "restart", "slurmd"]


def test_member_may_not_start_a_repair(api, member, cluster):
    assert api(member).post(f"/api/v1/clusters/{cluster.pk}/health/", {}, format="json").status_code == 403
    assert not Job.objects.exists()


def test_sweep_starts_one_system_job_for_a_cluster_that_needs_it(cluster, fake_slurm, no_enqueue):
    cluster.status = ClusterStatus.DEGRADED
    cluster.save()
    fake_slurm.state["lab-node1"] = ("DOWN", "Not responding")
    first = health_sweep.sweep()
    assert first[cluster.name]["nodes"] == ["lab-node1"]
    job = Job.objects.get(pk=first[cluster.name]["repair_job"])
    assert job.kind == "clusters.health" and job.requester is None and job.params["nodes"] == ["lab-node1"]
    again = health_sweep.sweep()  # the first job has not run yet: no second one
    assert "repair_job" not in again[cluster.name] and Job.objects.count() == 1


def test_restart_argv_is_set_per_cluster_through_the_api(api, sre, cluster):
    argv = ["sudo", "-n", "/opt/site/bin/restart-slurmd"]
    resp = api(sre).patch(f"/api/v1/clusters/{cluster.pk}/", {"slurmd_restart_command": argv}, format="json")
    assert resp.status_code == 200, resp.content
    cluster.refresh_from_db()
    assert node_health.restart_argv(cluster) == argv
    entry = AuditEvent.objects.get(action="cluster.update")
    assert entry.changes["after"]["slurmd_restart_command"] == argv
    bad = api(sre).patch(f"/api/v1/clusters/{cluster.pk}/", {"slurmd_restart_command": "reboot; x"}, format="json")
    assert bad.status_code == 400 and "slurmd_restart_command" in bad.json()


def test_sweep_leaves_out_unknown_machines_and_backs_off_after_a_failed_repair(cluster, fake_slurm, no_enqueue):
    from apps.clusters.models import ClusterNode
    from apps.jobs.models import JobStatus

    cluster.status = ClusterStatus.DEGRADED
    cluster.save()
    ClusterNode.objects.filter(cluster=cluster, slurm_name="lab-node10").update(node=None)
    fake_slurm.state["lab-node10"] = ("DOWN", "Not responding")
    found = health_sweep.sweep()[cluster.name]
    assert found["nodes"] == [] and found["unknown_machines"] == ["lab-node10"] and not Job.objects.exists()

    fake_slurm.state["lab-node1"] = ("DOWN", "Not responding")
    job = Job.objects.get(pk=health_sweep.sweep()[cluster.name]["repair_job"])
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, finished_at=timezone.now())
    assert "repair_job" not in health_sweep.sweep()[cluster.name]  # said once, not every cycle
    Job.objects.filter(pk=job.pk).update(finished_at=timezone.now() - health_sweep.REPAIR_BACKOFF * 2)
    assert "repair_job" in health_sweep.sweep()[cluster.name]
