"""Scaling API without a lab: who may call it, what is refused by name before any job starts,
and one audit entry naming the job for each start (scale, scale-down, deploy, cleanup)."""
from __future__ import annotations

import pytest

from apps.clusters import scaling, workflows
from apps.core.models import AuditEvent
from apps.jobs.models import Job
from apps.keyvault.services import create_secret
from apps.nodes.models import Bmc, Node
from apps.nodes.salt.results import pem_body_fingerprint
from apps.nodes.salt_models import SaltMaster, SaltMinion

from .ops_fixtures import cluster, member, no_enqueue, project, sre  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db
PUB = "-----BEGIN PUBLIC KEY-----\nMIIBscale\n-----END PUBLIC KEY-----\n"


@pytest.fixture
def spare(cluster, root, project):
    """Two nodes outside the cluster: one with an accepted minion, one whose key is pending (the
    cluster's configuration rendered by the portal, its munge key distributed)."""
    type(cluster).objects.filter(pk=cluster.pk).update(reuse_config=False, reuse_munge=False)
    cluster.refresh_from_db()
    credential = create_secret(root, name="salt-api", kind="bmc_credentials", value="portal:pw",
                               destinations=["127.0.0.1/32"])
    master = SaltMaster.objects.create(name="m1", api_url="https://127.0.0.1:9", eauth="file", credential=credential,
                                       master_address="127.0.0.1", public_key=PUB, fingerprint=pem_body_fingerprint(PUB))
    ready = Node.objects.create(name="gpu-a", address="10.0.0.20", project=project)
    pending = Node.objects.create(name="gpu-b", address="10.0.0.21", project=project)
    SaltMinion.objects.create(master=master, minion_id="gpu-a", node=ready, key_state="accepted")
    SaltMinion.objects.create(master=master, minion_id="gpu-b", node=pending, key_state="pending")
    munge = create_secret(root, name="opstest-munge", kind="munge_key", value="bXVuZ2U=", destinations=["10.0.0.0/24"])
    other = create_secret(root, name="not-munge", kind="other", value="x", destinations=["10.0.0.0/24"])
    return {"ready": ready, "pending": pending, "munge": munge, "other": other}


def audits(action):
    return list(AuditEvent.objects.filter(action=action))


def test_scale_refusals_name_the_field(api, sre, cluster, spare, no_enqueue):
    url = f"/api/v1/clusters/{cluster.pk}/nodes/scale/"
    r = api(sre).post(url, {"nodes": ["gpu-b"], "munge_key": "opstest-munge"}, format="json")
    assert r.status_code == 400 and "gpu-b: no accepted Salt minion" in str(r.json()["nodes"])
    r = api(sre).post(url, {"nodes": ["lab-node1"], "munge_key": "opstest-munge"}, format="json")
    assert r.status_code == 400 and "no accepted Salt minion" in str(r.json()["nodes"])  # no minion at all
    r = api(sre).post(url, {"nodes": ["gpu-a"]}, format="json")
    assert r.status_code == 400 and "munge key" in str(r.json()["munge_key"])  # cluster does not reuse its own
    r = api(sre).post(url, {"nodes": ["gpu-a"], "munge_key": "not-munge"}, format="json")
    assert r.status_code == 400 and "not a munge key" in str(r.json()["munge_key"])
    r = api(sre).post(url, {"nodes": ["gpu-a"], "munge_key": "opstest-munge", "partitions": ["nope"]}, format="json")
    assert r.status_code == 400 and "nope" in str(r.json()["partitions"])
    r = api(sre).post(url, {"nodes": ["nosuch"], "munge_key": "opstest-munge"}, format="json")
    assert r.status_code == 400 and "Unknown node" in str(r.json()["nodes"])
    assert Job.objects.count() == 0 and audits("cluster.scale") == []


def test_scale_and_scale_down_start_one_job_each_with_one_audit_entry(api, sre, cluster, spare, no_enqueue):
    r = api(sre).post(f"/api/v1/clusters/{cluster.pk}/nodes/scale/",
                      {"nodes": ["gpu-a"], "munge_key": "opstest-munge"}, format="json")
    assert r.status_code == 202, r.content
    job = Job.objects.get(pk=r.json()["job"])
    assert job.kind == scaling.SCALE_KIND and job.params["nodes"] == [spare["ready"].pk]
    assert job.params["munge_key"] == spare["munge"].pk  # the secret's id: never its value
    [entry] = audits("cluster.scale")
    assert str(job.pk) in str(entry.changes)  # the entry names the job
    r = api(sre).post(f"/api/v1/clusters/{cluster.pk}/nodes/scale-down/",
                      {"nodes": ["lab-node10"], "drain_timeout": 5}, format="json")
    assert r.status_code == 202, r.content
    down = Job.objects.get(pk=r.json()["job"])
    assert down.params["nodes"] == ["lab-node10"] and down.params["reason"] == "scaled down by the portal"
    assert len(audits("cluster.scale_down")) == 1
    r = api(sre).post(f"/api/v1/clusters/{cluster.pk}/nodes/scale-down/", {"nodes": ["lab-node"]}, format="json")
    assert r.status_code == 400 and "Not a node of opstest" in str(r.json()["nodes"])  # exact names only


def test_member_may_see_but_not_scale(api, member, cluster, spare, no_enqueue):
    for path, body in (("check-salt", {"nodes": ["gpu-a"]}), ("scale", {"nodes": ["gpu-a"]}),
                       ("scale-down", {"nodes": ["lab-node1"]})):
        r = api(member).post(f"/api/v1/clusters/{cluster.pk}/nodes/{path}/", body, format="json")
        assert r.status_code == 403, (path, r.content)
    assert Job.objects.count() == 0


def test_check_salt_without_accepted_keys_says_why_without_calling_salt(api, sre, cluster, spare):
    r = api(sre).post(f"/api/v1/clusters/{cluster.pk}/nodes/check-salt/", {"nodes": ["gpu-b", "lab-node1"]},
                      format="json")
    assert r.status_code == 200, r.content
    rows = {row["node"]: row for row in r.json()["nodes"]}
    assert rows["gpu-b"]["ready"] is False and "minion key is pending" in rows["gpu-b"]["reasons"][0]
    assert any("already a node of opstest" in x for x in rows["lab-node1"]["reasons"])
    assert any("no Salt minion" in x for x in rows["lab-node1"]["reasons"])


def test_workflows_start_with_one_audit_entry_and_list(api, sre, cluster, spare, no_enqueue):
    Bmc.objects.create(node=spare["ready"], driver="redfish", address="https://10.0.0.99", system_id="s1",
                       credential=spare["other"])
    r = api(sre).post("/api/v1/workflows/deploy/", {"node": "gpu-a", "cluster": "opstest", "pxe": True,
                                                    "munge_key": "opstest-munge"}, format="json")
    assert r.status_code == 202, r.content
    assert Job.objects.get(pk=r.json()["job"]).kind == workflows.DEPLOY and len(audits("workflow.deploy")) == 1
    r = api(sre).post("/api/v1/workflows/deploy/", {"node": "gpu-b", "cluster": "opstest",
                                                    "munge_key": "opstest-munge"}, format="json")
    assert r.status_code == 400 and "no BMC" in str(r.json()["node"])
    r = api(sre).post("/api/v1/workflows/cleanup/", {"node": "gpu-a", "cluster": "opstest"}, format="json")
    assert r.status_code == 400 and "not a node of opstest" in str(r.json()["node"])
    r = api(sre).post("/api/v1/workflows/cleanup/", {"node": "lab-node1", "cluster": str(cluster.pk)}, format="json")
    assert r.status_code == 202 and len(audits("workflow.cleanup")) == 1
    listed = api(sre).get("/api/v1/workflows/").json()["results"]
    assert {row["kind"] for row in listed} == {workflows.DEPLOY, workflows.CLEANUP}
