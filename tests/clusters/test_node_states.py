"""Node states through the API: exact names of the cluster, a validated reason, permission, one
audit entry, and the job that runs `scontrol update` and stores what Slurm reports."""
import pytest

from apps.clusters.models import ClusterNode
from apps.core.models import AuditEvent
from apps.jobs.execution import execute
from apps.jobs.models import Job

from .ops_fixtures import cluster, fake_slurm, member, no_enqueue, project, sre  # noqa: F401
from .payloads import REASONS

pytestmark = pytest.mark.django_db


def manage(api, user, cluster, **body):
    return api(user).post(f"/api/v1/clusters/{cluster.pk}/nodes/manage/", body, format="json")


def test_drain_runs_scontrol_on_exactly_the_named_node(api, sre, cluster, fake_slurm, no_enqueue):
    resp = manage(api, sre, cluster, nodes=["lab-node1"], action="drain", reason="disk replacement")
    assert resp.status_code == 202, resp.content
    job = Job.objects.get(pk=resp.json()["job"])
    assert job.params == {"cluster": cluster.pk, "nodes": ["lab-node1"], "action": "drain",
                          "reason": "disk replacement"}
    entries = AuditEvent.objects.filter(action="cluster.nodes_drain")
    assert entries.count() == 1 and AuditEvent.objects.count() == 1
    assert entries[0].changes["after"]["job"] == job.pk

    assert execute(job.pk) == "succeeded", Job.objects.get(pk=job.pk).error
    assert fake_slurm.updates() == [("update", ("lab-node1",), "DRAIN", "disk replacement")]
    node1, node10 = ClusterNode.objects.filter(cluster=cluster).order_by("slurm_name")
    assert (node1.state, node1.reason) == ("IDLE+DRAIN", "disk replacement")
    assert node10.state == "IDLE" and not node10.reason
    assert Job.objects.get(pk=job.pk).result["states"] == {"lab-node1": "IDLE+DRAIN"}


def test_resume_needs_no_reason(api, sre, cluster, fake_slurm, no_enqueue):
    fake_slurm.state["lab-node10"] = ("DOWN", "Not responding")
    resp = manage(api, sre, cluster, nodes=["lab-node10"], action="resume")
    assert resp.status_code == 202, resp.content
    assert execute(resp.json()["job"]) == "succeeded"
    assert fake_slurm.updates() == [("update", ("lab-node10",), "RESUME", "")]
    assert ClusterNode.objects.get(cluster=cluster, slurm_name="lab-node10").state == "IDLE"


@pytest.mark.parametrize("action", ["drain", "down"])
def test_drain_and_down_need_a_reason(api, sre, cluster, action):
    resp = manage(api, sre, cluster, nodes=["lab-node1"], action=action, reason="  ")
    assert resp.status_code == 400 and "reason" in resp.json()
    assert not Job.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.parametrize("reason", REASONS)
def test_injection_in_the_reason_is_refused_by_name(api, sre, cluster, reason):
    resp = manage(api, sre, cluster, nodes=["lab-node1"], action="drain", reason=reason)
    assert resp.status_code == 400, (reason, resp.content)
    assert list(resp.json()) == ["reason"]
    assert not Job.objects.exists() and not AuditEvent.objects.exists()


def test_shell_text_in_a_reason_stays_one_argument(api, sre, cluster, fake_slurm, no_enqueue):
    reason = "$(reboot); `id` && rm -rf / #"
    resp = manage(api, sre, cluster, nodes=["lab-node1"], action="drain", reason=reason)
    assert resp.status_code == 202, resp.content
    assert execute(resp.json()["job"]) == "succeeded"
    assert fake_slurm.updates() == [("update", ("lab-node1",), "DRAIN", reason)]


@pytest.mark.parametrize("nodes", [["lab-node"], ["lab-node1*"], ["lab-node[1-10]"], ["LAB-NODE1"], [],
                                   ["lab-node1", "other"], "lab-node1"])
def test_only_exact_names_of_the_cluster(api, sre, cluster, nodes):
    resp = manage(api, sre, cluster, nodes=nodes, action="drain", reason="x")
    assert resp.status_code == 400 and "nodes" in resp.json()
    assert not Job.objects.exists()


def test_unknown_action_is_refused_by_name(api, sre, cluster):
    resp = manage(api, sre, cluster, nodes=["lab-node1"], action="reboot_now", reason="x")
    assert resp.status_code == 400 and list(resp.json()) == ["action"]


def test_member_sees_the_cluster_but_may_not_manage_it(api, member, cluster):
    resp = manage(api, member, cluster, nodes=["lab-node1"], action="drain", reason="mine")
    assert resp.status_code == 403
    assert not Job.objects.exists() and not AuditEvent.objects.exists()


def test_outsider_gets_404(api, make_user, cluster):
    resp = manage(api, make_user("nobody", staff=True), cluster, nodes=["lab-node1"], action="drain", reason="x")
    assert resp.status_code == 404


def test_anonymous_gets_401(api, cluster):
    assert manage(api, None, cluster, nodes=["lab-node1"], action="drain", reason="x").status_code == 401
