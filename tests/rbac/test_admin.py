"""The project, membership and user admin obey the permission layer and save through the rbac
services (finding 3 of issue 7): the manage check and the last-owner rule on the membership
inline, group membership kept in step on delete, one audit entry per change, no guardian
object-permission pages, no state on the shared admin instance."""
import pytest
from django.contrib import admin
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.models import Group
from django.test import RequestFactory
from guardian.models import GroupObjectPermission

from apps.core.errors import Forbidden
from apps.core.models import AuditEvent
from apps.rbac import services
from apps.rbac.models import Membership, Project, ProjectRole
from tests.admin_forms import admin_form

pytestmark = pytest.mark.django_db

PROJECT_PERMS = ["rbac.view_project", "rbac.change_project", "rbac.view_membership", "rbac.add_membership",
                 "rbac.change_membership", "rbac.delete_membership", "auth.view_user"]


def _audit():
    return AuditEvent.objects.exclude(action__startswith="auth.")  # logins of the test clients


@pytest.fixture
def team(make_user):
    root = make_user("root", superuser=True)
    alice, bob = make_user("alice"), make_user("bob")
    project = services.create_project(root, "team", owner=alice)
    services.set_member(root, project, bob, ProjectRole.MEMBER)
    AuditEvent.objects.all().delete()
    return {"root": root, "alice": alice, "bob": bob, "project": project}


def _roles(project):
    return dict(Membership.objects.filter(project=project).values_list("user__username", "role"))


def _in_group(user, project):
    return user.groups.filter(pk=project.group_id).exists()


def _inline_row(data, username, **changes):
    """The prefix of the membership row of `username` in an admin form, with `changes` applied."""
    from django.contrib.auth import get_user_model

    pk = str(get_user_model().objects.get(username=username).pk)
    prefix = next(k[:-len("-user")] for k, v in data.items() if k.startswith("memberships-") and
                  k.endswith("-user") and v == pk)
    data.update({f"{prefix}-{k}": v for k, v in changes.items()})
    return data


def test_creating_a_project_writes_one_audit_entry(make_user, client):
    client.force_login(make_user("root", superuser=True))
    data, _ = admin_form(client, "/admin/rbac/project/add/", name="nlp", description="text team")
    assert client.post("/admin/rbac/project/add/", data).status_code == 302
    project = Project.objects.get(name="nlp")
    assert project.group.name == "project:nlp"
    assert list(_audit().values_list("action", "object_id")) == [("project.create", str(project.pk))]


def test_a_member_cannot_manage_members_through_the_inline(team, client, make_user):
    project, bob = team["project"], team["bob"]
    staffer = make_user("staffer", *PROJECT_PERMS, staff=True)
    services.set_member(team["root"], project, staffer, ProjectRole.MEMBER)
    AuditEvent.objects.all().delete()
    client.force_login(staffer)
    url = f"/admin/rbac/project/{project.pk}/change/"
    data, _ = admin_form(client, url, description="changed by a member")
    rows_editable = any(k.endswith("-role") for k in data)
    mallory = make_user("mallory")
    data.update({"memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "0",
                 "memberships-0-user": str(mallory.pk), "memberships-0-role": "owner"})
    client.post(url, data)
    assert _roles(project) == {"alice": "owner", "bob": "member", "staffer": "member"}
    assert not _in_group(mallory, project)
    assert not _audit().filter(action__startswith="project.member").exists()
    assert not rows_editable  # the rows are read-only for a member
    # The inline drops the rows before the service sees them; the service refuses on its own too.
    with pytest.raises(Forbidden):
        services.set_member(staffer, project, mallory, ProjectRole.OWNER)
    assert not _in_group(mallory, project)


def test_the_inline_keeps_the_last_owner_and_the_groups(team, client):
    project, alice, bob = team["project"], team["alice"], team["bob"]
    client.force_login(team["root"])
    url = f"/admin/rbac/project/{project.pk}/change/"

    data, _ = admin_form(client, url)
    resp = client.post(url, _inline_row(data, "alice", role="member"))
    assert resp.status_code == 409 and "last owner" in resp.content.decode()
    data, _ = admin_form(client, url)
    resp = client.post(url, _inline_row(data, "alice", DELETE="on"))
    assert resp.status_code == 409 and "last owner" in resp.content.decode()
    assert _roles(project) == {"alice": "owner", "bob": "member"} and _in_group(alice, project)
    assert not _audit().exists()

    # Handing over in one save works: the new owner is set before the old one steps down.
    data, _ = admin_form(client, url)
    _inline_row(data, "alice", DELETE="on")
    assert client.post(url, _inline_row(data, "bob", role="owner")).status_code == 302
    assert _roles(project) == {"bob": "owner"}
    assert not _in_group(alice, project) and _in_group(bob, project)
    assert sorted(_audit().values_list("action", flat=True)) == ["project.member_remove", "project.member_set"]


def test_deleting_a_membership_in_the_admin_removes_the_group(team, client):
    project, bob = team["project"], team["bob"]
    client.force_login(team["root"])
    membership = Membership.objects.get(project=project, user=bob)
    resp = client.post(f"/admin/rbac/membership/{membership.pk}/delete/", {"post": "yes"})
    assert resp.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists() and not _in_group(bob, project)
    assert list(_audit().values_list("action", flat=True)) == ["project.member_remove"]
    owner = Membership.objects.get(project=project, user=team["alice"])
    resp = client.post("/admin/rbac/membership/", {"action": "delete_selected", "post": "yes",
                                                   "_selected_action": [str(owner.pk)]})
    assert resp.status_code == 409 and Membership.objects.filter(pk=owner.pk).exists()
    assert not LogEntry.objects.filter(action_flag=DELETION, object_id=str(owner.pk)).exists()


def test_bulk_delete_of_projects_goes_through_the_service(make_user, client):
    root = make_user("root", superuser=True)
    projects = [services.create_project(root, name) for name in ("p1", "p2")]
    client.force_login(root)
    resp = client.post("/admin/rbac/project/", {"action": "delete_selected", "post": "yes",
                                                "_selected_action": [str(p.pk) for p in projects]})
    assert resp.status_code == 302 and not Project.objects.exists()
    assert not Group.objects.filter(name__startswith="project:").exists()  # the service deletes the groups
    assert _audit().filter(action="project.delete").count() == 2


def test_no_guardian_object_permission_pages(team, client):
    from guardian.admin import GuardedModelAdmin

    assert not any(isinstance(a, GuardedModelAdmin) for a in admin.site._registry.values())
    client.force_login(team["root"])
    project = team["project"]
    client.post(f"/admin/rbac/project/{project.pk}/permissions/",
                {"group": f"project:{project.name}", "submit_manage_group": "1"})
    assert not GroupObjectPermission.objects.exists() and not _audit().exists()


def test_no_state_is_kept_on_the_admin_instance(team, make_user):
    """Two saves interleaved on the one shared instance each audit their own object."""
    model_admin = admin.site._registry[Project]
    root = team["root"]
    other = services.create_project(root, "other")
    AuditEvent.objects.all().delete()
    state_before = dict(vars(model_admin))
    requests, forms = [], []
    for project, text in [(team["project"], "first"), (other, "second")]:
        request = RequestFactory().post("/")
        request.user = root
        form_class = model_admin.get_form(request, project, change=True, fields=["description"])
        form = form_class({"description": text}, instance=project)
        assert form.is_valid()
        requests.append(request)
        forms.append(form)
    for request, form in zip(requests, forms):  # both save_model calls first, then both save_related
        model_admin.save_model(request, model_admin.save_form(request, form, change=True), form, True)
    for request, form in zip(requests, forms):
        model_admin.save_related(request, form, [], True)
    assert dict(vars(model_admin)) == state_before
    rows = list(_audit().order_by("id").values_list("action", "object_id", "changes__after__description"))
    assert rows == [("project.update", str(team["project"].pk), "first"), ("project.update", str(other.pk), "second")]


def test_user_admin_saves_through_the_accounts_service_without_escalation(team, client, make_user):
    bob = team["bob"]
    client.force_login(team["root"])
    url = f"/admin/auth/user/{bob.pk}/change/"
    data, choices = admin_form(client, url, first_name="Bob")
    assert str(team["project"].group_id) not in choices["groups"]  # project groups follow memberships
    assert client.post(url, data).status_code == 302
    bob.refresh_from_db()
    assert bob.first_name == "Bob" and _in_group(bob, team["project"])  # the project group stayed
    assert list(_audit().values_list("action", flat=True)) == ["user.update"]

    resp = client.post(f"/admin/auth/user/{bob.pk}/password/",
                       {"password1": "Fresh-Pass-42x", "password2": "Fresh-Pass-42x", "usable_password": "true"})
    assert resp.status_code == 302
    bob.refresh_from_db()
    assert bob.check_password("Fresh-Pass-42x")
    assert list(_audit().order_by("id").values_list("action", flat=True)) == ["user.update", "user.password_set"]
    assert "Fresh-Pass" not in str(list(_audit().values_list("changes", flat=True)))

    # A user administrator who is no superuser cannot make anyone (themselves included) superuser.
    helper = make_user("helper", "auth.view_user", "auth.change_user", "rbac.unrestricted", staff=True)
    client.force_login(helper)
    url = f"/admin/auth/user/{helper.pk}/change/"
    data, _ = admin_form(client, url, is_superuser="on")
    resp = client.post(url, data)
    assert resp.status_code == 403
    helper.refresh_from_db()
    assert not helper.is_superuser
