"""Project accounts and the limits Slurm enforces: the portal side (API, validation, audit) and
the sacctmgr side (dry run from real `sacctmgr show` output, apply as a job, drift per account).
Clusters that keep their own accounting are refused."""
import pytest

from apps.clusters import accounting_sync, connection
from apps.clusters.models import ProjectAccount, SlurmUser
from apps.core.models import AuditEvent
from apps.jobs.execution import execute
from apps.jobs.models import Job
from apps.rbac.models import Membership, ProjectRole

from .fake_slurm import FakeAccounting, assoc_row
from .ops_fixtures import cluster, member, no_enqueue, project, sre  # noqa: F401
from .payloads import SHELL

pytestmark = pytest.mark.django_db

# What sacctmgr prints for the account once LIMITS are applied (user rows: the same, inherited).
ACCOUNT_ROW = {"Cluster": "opstest", "Account": "opsacct", "ParentName": "root", "Share": 1,
               "GrpTRESMins": "gres/gpu=6000", "MaxJobs": 2, "MaxTRES": "gres/gpu=1", "MaxWall": "01:30:00",
               "QOS": "normal"}
LIMITS = {"gpus_per_job": 1, "gpu_minutes": 6000, "max_running_jobs_per_user": 2, "max_wall_min": 90}


@pytest.fixture
def fake(monkeypatch):
    fake = FakeAccounting()
    monkeypatch.setattr(connection, "controller_client", lambda cluster, **kw: fake)
    return fake


@pytest.fixture
def account(cluster, project, member, make_user):
    SlurmUser.objects.create(user=member, cluster=cluster, username="alice")
    unmapped = make_user("carol")
    Membership.objects.create(project=project, user=unmapped, role=ProjectRole.MEMBER)
    return ProjectAccount.objects.create(cluster=cluster, project=project, account="opsacct", **LIMITS)


def url(cluster, tail=""):
    return f"/api/v1/clusters/{cluster.pk}/accounts/{tail}"


def test_create_with_limits_is_audited_once_and_lower_cased(api, sre, cluster):
    resp = api(sre).post(url(cluster), {"project": "ops-test", "account": "Physics", **LIMITS,
                                        "allowed_qos": ["normal"]}, format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["account"] == "physics" and resp.json()["gpus_per_job"] == 1
    assert AuditEvent.objects.filter(action="cluster.account_create").count() == 1 == AuditEvent.objects.count()


@pytest.mark.parametrize("name", [*SHELL, "root", "a=b", "x" * 70])
def test_injection_in_account_names_is_refused_by_name(api, sre, cluster, name):
    resp = api(sre).post(url(cluster), {"project": "ops-test", "account": name}, format="json")
    assert resp.status_code == 400, (name, resp.content)
    assert list(resp.json()) == ["account"]
    assert not ProjectAccount.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.parametrize("field,value", [("allowed_qos", ["normal;reboot"]), ("allowed_partitions", ["nope"]),
                                         ("gpus_per_job", -1), ("max_wall_min", "lots")])
def test_bad_limits_are_refused_by_name(api, sre, cluster, field, value):
    resp = api(sre).post(url(cluster), {"project": "ops-test", "account": "ok1", field: value}, format="json")
    assert resp.status_code == 400 and field in resp.json(), resp.content


def test_one_account_per_project_and_cluster(api, sre, cluster, account):
    resp = api(sre).post(url(cluster), {"project": "ops-test", "account": "second"}, format="json")
    assert resp.status_code == 400 and list(resp.json()) == ["project"]


def test_member_may_read_but_not_change_limits(api, member, cluster, account):
    assert api(member).get(url(cluster)).json()[0]["account"] == "opsacct"
    resp = api(member).patch(f"/api/v1/clusters/accounts/{account.pk}/", {"gpus_per_job": 8}, format="json")
    assert resp.status_code == 403
    assert ProjectAccount.objects.get(pk=account.pk).gpus_per_job == 1


def test_dry_run_lists_the_sacctmgr_commands_and_runs_nothing(api, sre, cluster, account, fake):
    resp = api(sre).get(url(cluster, "diff/"))
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["ok"] and not body["in_sync"]
    argvs = [c["argv"] for c in body["commands"]]
    assert argvs[0][:5] == ["sacctmgr", "-i", "add", "account", "opsacct"]
    assert "cluster=opstest" in argvs[0]
    settings = set(argvs[0])
    assert {"MaxTRES=gres/gpu=1", "GrpTRESMins=gres/gpu=6000", "MaxJobs=2", "MaxWall=01:30:00"} <= settings
    assert ["sacctmgr", "-i", "add", "user", "alice", "account=opsacct", "cluster=opstest"] in argvs
    assert not any("carol" in " ".join(a) for a in argvs)
    assert any("carol" in note and "no Slurm user mapping" in note for note in body["notes"])
    assert fake.applied == [] and not AuditEvent.objects.exists()


def test_apply_runs_them_as_a_job_audited_once(api, sre, cluster, account, fake, no_enqueue):
    resp = api(sre).post(url(cluster, "apply/"))
    assert resp.status_code == 202, resp.content
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["cluster.accounting_apply"]
    job_id = resp.json()["job"]
    assert execute(job_id) == "succeeded", Job.objects.get(pk=job_id).error
    assert [a[2:5] for a in fake.applied] == [("add", "account", "opsacct"), ("add", "user", "alice")]
    account.refresh_from_db()
    assert account.applied_at and account.checked_at


def test_drift_check_stores_what_is_missing_per_account(api, sre, cluster, account, fake, no_enqueue):
    # Someone raised the GPU limit and dropped the budget behind the portal's back.
    fake.extra_accounts = ["opsacct"]
    fake.assoc_text = (assoc_row(**{**ACCOUNT_ROW, "MaxTRES": "gres/gpu=4", "GrpTRESMins": ""})
                       + assoc_row(**{**ACCOUNT_ROW, "User": "alice", "ParentName": "", "MaxTRES": "gres/gpu=4",
                                      "GrpTRESMins": ""}))
    resp = api(sre).post(url(cluster, "check/"))
    assert resp.status_code == 202
    assert execute(resp.json()["job"]) == "succeeded"
    account.refresh_from_db()
    assert account.checked_at is not None
    assert account.drift[0] == "account opsacct: GrpTRESMins=gres/gpu=6000, MaxTRES=gres/gpu=1", account.drift
    assert fake.applied == []


def test_in_sync_when_slurm_matches(api, sre, cluster, account, fake):
    fake.extra_accounts = ["opsacct"]
    fake.assoc_text = assoc_row(**ACCOUNT_ROW) + assoc_row(**{**ACCOUNT_ROW, "User": "alice", "ParentName": "",
                                                              "GrpTRESMins": ""})
    plan = accounting_sync.plan(cluster, fake)
    assert [c.summary for c in plan.commands] == []


def test_clusters_keeping_their_own_accounting_are_refused(api, sre, cluster, account, fake):
    cluster.reuse_database = True
    cluster.save()
    for method, tail in (("get", "diff/"), ("post", "apply/"), ("post", "check/")):
        resp = getattr(api(sre), method)(url(cluster, tail))
        assert resp.status_code == 409 and "reuse_database" in resp.json(), (tail, resp.content)
    assert not Job.objects.exists() and fake.applied == []


def test_associations_and_qos_as_slurm_shows_them(api, member, cluster, fake):
    assoc = api(member).get(f"/api/v1/clusters/{cluster.pk}/associations/").json()
    assert assoc["live"] is True and assoc["results"] == []  # the samples are of cluster labtest
    qos = api(member).get(f"/api/v1/clusters/{cluster.pk}/qos/").json()
    assert [q["name"] for q in qos["results"]][:2] == ["normal", "high"]
