"""Salt in the portal without the lab: the function policy refuses a denied function on every
execution path (API, page, admin, job) with a 403 naming it and one `salt.refused` audit entry;
portal roles map to Salt roles as data; key acceptance needs a fingerprint."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from apps.core.models import AuditEvent
from apps.jobs.models import Job
from apps.keyvault.services import create_secret
from apps.nodes.salt import SaltRole
from apps.nodes.salt.results import pem_body_fingerprint
from apps.nodes.salt_models import SaltMaster, SaltMinion
from apps.nodes.salt_roles import salt_role_for
from apps.nodes.services import create_node

pytestmark = pytest.mark.django_db

PUB = "-----BEGIN PUBLIC KEY-----\nMIIBportal\n-----END PUBLIC KEY-----\n"
DENIED = [
    ("cmd.run", ["id"]),
    ("cmd.script", ["salt://scripts/anything.sh"]),       # a script path
    ("state.apply", ["not.allowed"]),                      # a state outside the allowed ones
    ("state.apply", []),                                   # a highstate
    ("cmd.exec_code", ["python3", "print(1)"]),
]


@pytest.fixture
def sre(make_user):
    user = make_user("sre-user", staff=True)
    user.groups.add(Group.objects.get(name="sre"))
    return user


@pytest.fixture
def minion(root):
    credential = create_secret(root, name="salt-api", kind="bmc_credentials", value="portal:pw",
                               destinations=["127.0.0.1/32"])
    master = SaltMaster.objects.create(name="m1", api_url="https://127.0.0.1:9", eauth="file", credential=credential,
                                       master_address="127.0.0.1", public_key=PUB, fingerprint=pem_body_fingerprint(PUB))
    node = create_node(root, name="gpu-n2", address="10.9.0.12")
    return SaltMinion.objects.create(master=master, minion_id="gpu-n2", node=node, key_state="accepted")


def refusals():
    return list(AuditEvent.objects.filter(action="salt.refused").order_by("pk"))


def test_portal_roles_map_to_salt_roles(root, sre, make_user, settings):
    eng = make_user("eng")
    eng.groups.add(Group.objects.get(name="engineer"))
    assert salt_role_for(root) == SaltRole.ADMIN
    assert salt_role_for(sre) == SaltRole.ADMIN
    assert salt_role_for(eng) == SaltRole.VIEWER
    settings.SALT_PORTAL_ROLES = {"sre": SaltRole.OPERATOR}
    assert salt_role_for(make_user("sre2", staff=True)) == SaltRole.VIEWER  # no group
    sre.groups.add(Group.objects.get(name="engineer"))
    assert salt_role_for(type(sre).objects.get(pk=sre.pk)) == SaltRole.OPERATOR


@pytest.mark.parametrize("fun,arg", DENIED)
def test_api_refuses_denied_functions_naming_them_with_an_audit_entry(api, sre, minion, fun, arg):
    r = api(sre).post("/api/v1/salt/minions/run/", {"minions": [minion.minion_id], "fun": fun, "arg": arg},
                      format="json")
    assert r.status_code == 403, r.content
    assert r.json()["function"] == fun and fun in r.json()["detail"]
    [entry] = refusals()
    after = entry.changes["after"]
    assert entry.actor == sre and after["function"] == fun and after["path"] == "api"
    assert not Job.objects.filter(kind="salt.run").exists()


def test_allowed_function_starts_a_job(api, sre, minion):
    r = api(sre).post("/api/v1/salt/minions/run/", {"minions": [minion.minion_id], "fun": "state.apply",
                                                    "arg": ["slurm.node"]}, format="json")
    assert r.status_code == 202, r.content
    job = Job.objects.get(pk=r.json()["job"])
    assert job.params["fun"] == "state.apply" and job.params["minions"] == ["gpu-n2"]
    assert not refusals()


def test_page_refuses_with_403_naming_the_function(client, sre, minion):
    client.force_login(sre)
    r = client.post(f"/nodes/salt/{minion.pk}/run/", {"fun": "cmd.run", "args": "id"})
    assert r.status_code == 403 and b"cmd.run" in r.content
    [entry] = refusals()
    assert entry.changes["after"]["path"] == "page"


def test_job_path_refuses_with_an_audit_entry(api, sre, minion):
    r = api(sre).post("/api/v1/jobs/", {"kind": "salt.run", "params": {
        "master": minion.master_id, "minions": [minion.minion_id], "fun": "cmd.run", "arg": ["id"]}}, format="json")
    assert r.status_code == 403 and "cmd.run" in r.json()["detail"]
    [entry] = refusals()
    assert entry.changes["after"]["path"] == "job"
    assert not Job.objects.filter(kind="salt.run").exists()


def test_admin_action_refused_for_a_viewer_role_is_audited(client, make_user, minion):
    viewer = make_user("eng-runner", "nodes.run_saltminion", "rbac.unrestricted", staff=True)
    viewer.groups.add(Group.objects.get(name="engineer"))  # Salt role: viewer (no state.apply)
    client.force_login(viewer)
    r = client.post("/admin/nodes/saltminion/", {"action": "apply_slurm_node", "_selected_action": [minion.pk]})
    assert r.status_code == 302
    [entry] = refusals()
    assert entry.changes["after"]["path"] == "admin" and entry.changes["after"]["function"] == "state.apply"
    assert not Job.objects.filter(kind="salt.run").exists()


def test_accept_needs_the_fingerprint(api, sre, minion):
    r = api(sre).post(f"/api/v1/salt/minions/{minion.pk}/accept/", {}, format="json")
    assert r.status_code == 400 and "fingerprint" in r.json()
    r = api(sre).post(f"/api/v1/salt/minions/{minion.pk}/accept/", {"fingerprint": "ab:cd"}, format="json")
    assert r.status_code == 400 and "fingerprint" in r.json()


def test_run_on_a_group(api, sre, minion):
    from apps.nodes.salt_models import SaltMinionGroup

    group = SaltMinionGroup.objects.create(master=minion.master, name="gpu")
    group.minions.add(minion)
    r = api(sre).post("/api/v1/salt/minions/run/", {"group": group.pk, "fun": "test.version"}, format="json")
    assert r.status_code == 202, r.content
    assert Job.objects.get(pk=r.json()["job"]).params["minions"] == ["gpu-n2"]
    r = api(sre).post("/api/v1/salt/minions/run/", {"group": group.pk, "fun": "cmd.run", "arg": ["id"]},
                      format="json")
    assert r.status_code == 403 and r.json()["function"] == "cmd.run"
    assert api(sre).post("/api/v1/salt/minions/run/", {"fun": "test.ping"}, format="json").status_code == 400
