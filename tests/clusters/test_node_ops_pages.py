"""The pages: nodes selected on the cluster page, a confirmation listing them with the reason,
then one job; the repair button; accounting (project accounts with drift, associations and QOS
from Slurm, dry run with its commands, confirmed apply, the account form)."""
import re

import pytest

from apps.clusters import connection
from apps.clusters.models import ClusterNode, ProjectAccount
from apps.core.models import AuditEvent
from apps.jobs.models import Job

from .fake_slurm import FakeAccounting
from .ops_fixtures import NAMES, cluster, member, no_enqueue, project, sre  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(monkeypatch):
    fake = FakeAccounting({name: ("IDLE", "") for name in NAMES})
    monkeypatch.setattr(connection, "controller_client", lambda cluster, **kw: fake)
    return fake


def test_operator_selects_nodes_on_the_cluster_page(client, sre, cluster, fake):
    client.force_login(sre)
    page = client.get(f"/clusters/{cluster.pk}/").content.decode()
    assert 'id="cluster-node-states"' in page and 'id="cluster-repair"' in page
    members = ClusterNode.objects.filter(cluster=cluster)
    assert all(f'name="pk" value="{m.pk}"' in page for m in members)


def test_member_sees_no_node_actions(client, member, cluster, fake):
    client.force_login(member)
    page = client.get(f"/clusters/{cluster.pk}/").content.decode()
    assert 'id="cluster-node-states"' not in page and 'id="cluster-repair"' not in page
    assert 'id="cluster-accounting-drift"' in page


def test_drain_confirms_listing_the_nodes_then_starts_one_job(client, sre, cluster, fake, no_enqueue):
    client.force_login(sre)
    node1 = ClusterNode.objects.get(cluster=cluster, slurm_name="lab-node1")
    url = f"/clusters/{cluster.pk}/nodes/states/"
    page = client.post(url, {"action": "drain", "pk": [node1.pk], "reason": "fan swap"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "opstest/lab-node1" in text and "opstest/lab-node10" not in text
    assert 'value="fan swap"' in text and not Job.objects.exists()

    done = client.post(url, {"action": "drain", "pk": [node1.pk], "reason": "fan swap", "confirm": "yes"})
    job = Job.objects.get()
    assert done.status_code == 302 and done["Location"] == f"/jobs/{job.pk}/"
    assert job.params["nodes"] == ["lab-node1"] and job.params["reason"] == "fan swap"
    assert AuditEvent.objects.filter(action="cluster.nodes_drain").count() == 1


def test_a_bad_reason_is_said_and_nothing_starts(client, sre, cluster, fake, no_enqueue):
    client.force_login(sre)
    node1 = ClusterNode.objects.get(cluster=cluster, slurm_name="lab-node1")
    resp = client.post(f"/clusters/{cluster.pk}/nodes/states/",
                       {"action": "down", "pk": [node1.pk], "reason": "x State=RESUME", "confirm": "yes"},
                       follow=True)
    assert "reason:" in resp.content.decode() and not Job.objects.exists()


def test_nodes_of_another_cluster_cannot_be_picked(client, sre, cluster, fake, no_enqueue, project):
    from apps.clusters.models import Cluster

    other = Cluster.objects.create(name="other", controller=cluster.controller, project=project)
    stranger = ClusterNode.objects.create(cluster=other, slurm_name="lab-node1")
    client.force_login(sre)
    client.post(f"/clusters/{cluster.pk}/nodes/states/",
                {"action": "drain", "pk": [stranger.pk], "reason": "x", "confirm": "yes"})
    assert not Job.objects.exists()


def test_accounting_page_shows_accounts_drift_associations_and_qos(client, sre, cluster, fake):
    ProjectAccount.objects.create(cluster=cluster, project=cluster.project, account="opsacct", gpus_per_job=1,
                                  drift=["account opsacct: MaxTRES=gres/gpu=1"])
    client.force_login(sre)
    page = client.get(f"/clusters/{cluster.pk}/accounting/").content.decode()
    assert 'id="project-accounts"' in page and "drift: 1" in page and "account opsacct: MaxTRES=gres/gpu=1" in page
    assert 'id="qos"' in page and ">high<" in page
    detail = client.get(f"/clusters/{cluster.pk}/").content.decode()
    assert "accounting drift: opsacct" in detail


def test_dry_run_page_shows_commands_and_apply_confirms(client, sre, cluster, fake, no_enqueue):
    ProjectAccount.objects.create(cluster=cluster, project=cluster.project, account="opsacct", gpus_per_job=1)
    client.force_login(sre)
    url = f"/clusters/{cluster.pk}/accounting/apply/"
    page = client.get(url).content.decode()
    assert re.search(r"<code>sacctmgr -i add account opsacct cluster=opstest [^<]*MaxTRES=gres/gpu=1", page), page
    assert fake.applied == [] and not Job.objects.exists()
    done = client.post(url, {"confirm": "yes"})
    job = Job.objects.get()
    assert done.status_code == 302 and done["Location"] == f"/jobs/{job.pk}/" and job.kind == "clusters.accounting_apply"


def test_account_form_adds_and_edits_limits(client, sre, cluster, fake):
    client.force_login(sre)
    resp = client.post(f"/clusters/{cluster.pk}/accounting/accounts/add/",
                       {"project": cluster.project_id, "account": "formacct", "gpus_per_job": "2",
                        "allowed_qos": "normal, high"})
    assert resp.status_code == 302, resp.content.decode()[-2000:]
    pa = ProjectAccount.objects.get(account="formacct")
    assert pa.gpus_per_job == 2 and pa.allowed_qos == ["normal", "high"]
    resp = client.post(f"/clusters/accounts/{pa.pk}/edit/", {"account": "formacct", "gpus_per_job": "4",
                                                             "allowed_qos": "normal;reboot"})
    assert resp.status_code == 400 and "is not a QOS name" in resp.content.decode()
    resp = client.post(f"/clusters/accounts/{pa.pk}/edit/", {"account": "formacct", "gpus_per_job": "4"})
    assert resp.status_code == 302
    assert ProjectAccount.objects.get(pk=pa.pk).gpus_per_job == 4


def test_member_is_refused_the_account_form(client, member, cluster):
    client.force_login(member)
    assert client.get(f"/clusters/{cluster.pk}/accounting/accounts/add/").status_code == 403
