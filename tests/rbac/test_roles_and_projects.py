"""Role templates as code, projects and memberships through the API, audit of each change."""
import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from apps.core.models import AuditEvent
from apps.rbac import services
from apps.rbac.models import Membership, Project
from apps.rbac.roles import ROLE_TEMPLATES

pytestmark = pytest.mark.django_db


def perms_of(group_name):
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_role_templates_exist_with_their_permissions():
    assert set(ROLE_TEMPLATES) <= set(Group.objects.values_list("name", flat=True))
    admin = perms_of("admin")
    assert {"jobs.run_selfcheck", "core.view_auditevent", "rbac.unrestricted", "auth.change_user"} <= admin
    sre = perms_of("sre")
    assert {"jobs.run_selfcheck", "jobs.cancel_job", "rbac.unrestricted", "core.view_auditevent"} <= sre
    assert "core.change_auditevent" not in sre and "auth.change_user" not in sre
    assert "keyvault.reveal_secret" not in sre
    for dev in ("data-developer", "model-developer"):
        assert perms_of(dev) == perms_of("data-developer")
        assert not any(p.startswith("keyvault.") for p in perms_of(dev))
        assert "rbac.unrestricted" not in perms_of(dev)
    assert "rbac.view_project" in perms_of("engineer")


def test_sync_roles_is_idempotent_and_repairs_drift():
    sre = Group.objects.get(name="sre")
    before = perms_of("sre")
    sre.permissions.clear()
    call_command("sync_roles")
    call_command("sync_roles")
    assert perms_of("sre") == before


def test_project_lifecycle_through_the_api(make_user, api):
    admin = make_user("root", superuser=True)
    alice = make_user("alice")
    alice.groups.add(Group.objects.get(name="engineer"))
    client = api(admin)
    resp = client.post("/api/v1/projects/", {"name": "vision", "description": "CV team", "gpu_quota": 8},
                       format="json")
    assert resp.status_code == 201, resp.content
    project_id = resp.json()["id"]
    assert resp.json()["members"][0]["username"] == "root" and resp.json()["members"][0]["role"] == "owner"
    assert client.post("/api/v1/projects/", {"name": "Bad Name!"}, format="json").json()["name"]
    resp = client.post(f"/api/v1/projects/{project_id}/members/", {"username": "alice", "role": "viewer"},
                       format="json")
    assert resp.status_code == 201
    project = Project.objects.get(pk=project_id)
    assert alice.groups.filter(pk=project.group_id).exists()
    # alice sees the project now, but a viewer may not manage members.
    assert api(alice).get(f"/api/v1/projects/{project_id}/").status_code == 200
    resp = api(alice).post(f"/api/v1/projects/{project_id}/members/", {"username": "root"}, format="json")
    assert resp.status_code == 403
    assert api(alice).patch(f"/api/v1/projects/{project_id}/", {"description": "x"}, format="json").status_code == 403
    resp = client.post(f"/api/v1/projects/{project_id}/members/", {"username": "ghost"}, format="json")
    assert resp.status_code == 400 and "ghost" in resp.json()["username"][0]
    resp = client.delete(f"/api/v1/projects/{project_id}/members/root/")
    assert resp.status_code == 409 and "last owner" in resp.json()["detail"]
    assert client.delete(f"/api/v1/projects/{project_id}/members/alice/").status_code == 204
    assert not alice.groups.filter(pk=project.group_id).exists()
    assert client.patch(f"/api/v1/projects/{project_id}/", {"gpu_quota": 4}, format="json").json()["gpu_quota"] == 4
    assert client.delete(f"/api/v1/projects/{project_id}/").status_code == 204
    assert not Group.objects.filter(name="project:vision").exists()
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["project.create", "project.member_set", "project.member_remove", "project.update",
                       "project.delete"]


def test_projects_of_others_are_hidden(make_user, api):
    alice, bob = make_user("alice"), make_user("bob")
    for user in (alice, bob):
        user.groups.add(Group.objects.get(name="data-developer"))
    mine = services.create_project(None, "mine", owner=alice)
    theirs = services.create_project(None, "theirs", owner=bob)
    assert [p["name"] for p in api(alice).get("/api/v1/projects/").json()["results"]] == ["mine"]
    assert api(alice).get(f"/api/v1/projects/{theirs.pk}/").status_code == 404
    assert api(alice).get(f"/api/v1/projects/{mine.pk}/").status_code == 200
    sre = make_user("sam")
    sre.groups.add(Group.objects.get(name="sre"))
    assert {p["name"] for p in api(sre).get("/api/v1/projects/").json()["results"]} == {"mine", "theirs"}


def test_me_and_roles(make_user, api):
    alice = make_user("alice")
    alice.groups.add(Group.objects.get(name="engineer"))
    services.create_project(None, "vision", owner=alice)
    me = api(alice).get("/api/v1/me/").json()
    assert me["username"] == "alice" and me["roles"] == ["engineer"]
    assert me["projects"] == [{"id": Project.objects.get().pk, "name": "vision", "role": "owner"}]
    assert "rbac.view_project" in me["permissions"]
    roles = {r["name"]: r for r in api(alice).get("/api/v1/roles/").json()}
    assert set(roles) == set(ROLE_TEMPLATES)
    assert "jobs.run_selfcheck" in roles["sre"]["permissions"]


def test_users_endpoint(make_user, api):
    admin = make_user("root", superuser=True)
    alice = make_user("alice")
    assert {u["username"] for u in api(admin).get("/api/v1/users/").json()["results"]} == {"root", "alice"}
    assert [u["username"] for u in api(alice).get("/api/v1/users/").json()["results"]] == ["alice"]
    assert api(alice).post("/api/v1/users/", {"username": "x"}, format="json").status_code == 405


def test_admin_project_create_makes_group_and_audits(make_user, client):
    client.force_login(make_user("root", superuser=True))
    resp = client.post("/admin/rbac/project/add/", {
        "name": "nlp", "description": "", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000"})
    assert resp.status_code == 302, resp.content.decode()[:2000]
    project = Project.objects.get(name="nlp")
    assert project.group.name == "project:nlp"
    assert AuditEvent.objects.filter(action__in=["project.create", "project.admin_create"]).exists()
    assert Membership.objects.count() == 0


def test_deleting_a_project_that_owns_secrets_is_a_409(make_user, api):
    from apps.keyvault.models import Secret
    from apps.keyvault.services import create_secret

    admin = make_user("root", superuser=True)
    project = services.create_project(None, "vault-owner", owner=admin)
    create_secret(admin, name="munge-key", kind="munge_key", value="s3cr3t-munge", project=project)
    resp = api(admin).delete(f"/api/v1/projects/{project.pk}/")
    assert resp.status_code == 409 and "munge-key" in resp.json()["detail"]
    assert Project.objects.filter(pk=project.pk).exists() and Secret.objects.count() == 1
    assert not AuditEvent.objects.filter(action="project.delete").exists()


def test_project_list_query_count_does_not_grow_with_rows(make_user, api):
    from devtools.queries import count_queries

    dev = make_user("dev")
    dev.groups.add(Group.objects.get(name="data-developer"))
    client = api(dev)

    def measure():
        client.get("/api/v1/projects/")  # warm the user's permission cache
        with count_queries() as counter:
            assert client.get("/api/v1/projects/").status_code == 200
        return counter.count

    services.create_project(None, "p-0", owner=dev)
    small = measure()
    for i in range(1, 30):
        project = services.create_project(None, f"p-{i}")
        if i % 3 == 0:
            rbac_member = services.add_member
            rbac_member(make_user(f"owner-{i}", superuser=True), project, "dev", "viewer")
    large = measure()
    assert small > 0 and large == small
    assert len(client.get("/api/v1/projects/").json()["results"]) == 10


def test_object_grant_to_a_project_reveals_the_object_to_its_members(make_user, api):
    admin = make_user("root", superuser=True)
    dev = make_user("dev")
    dev.groups.add(Group.objects.get(name="data-developer"))
    team = services.create_project(None, "team", owner=dev)
    shared = services.create_project(None, "shared")
    client = api(dev)
    assert api(dev).get(f"/api/v1/projects/{shared.pk}/").status_code == 404
    services.grant(admin, team, shared, "view")
    assert client.get(f"/api/v1/projects/{shared.pk}/").status_code == 200
    assert {p["name"] for p in client.get("/api/v1/projects/").json()["results"]} == {"team", "shared"}
    # A grant to view is not a grant to manage.
    assert client.post(f"/api/v1/projects/{shared.pk}/members/", {"username": "dev"}, format="json").status_code == 403
    services.revoke(admin, team, shared, "view")
    assert client.get(f"/api/v1/projects/{shared.pk}/").status_code == 404
    assert list(AuditEvent.objects.filter(action__startswith="grant.").order_by("id").values_list("action", flat=True)) == [
        "grant.add", "grant.remove"]
    with pytest.raises(Exception, match="permission"):
        services.grant(admin, team, shared, "fly")
    with pytest.raises(Exception, match="may not grant"):
        services.grant(dev, team, shared, "view")
