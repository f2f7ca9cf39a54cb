"""Project pages on the page kit: list (sort, filter chips, CSV, empty state, constant queries),
create / edit / delete, members (add, change role, remove after a confirmation): every change
through apps.rbac.services, one audit entry each, refusals next to the field, 403/404 by role."""
import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core.models import AuditEvent
from apps.rbac import services
from apps.rbac.models import Membership, Project, ProjectRole

pytestmark = pytest.mark.django_db
LIST = reverse("rbac:projects")


def _audit(prefix="project."):
    return list(AuditEvent.objects.filter(action__startswith=prefix).order_by("pk").values_list("action", flat=True))


@pytest.fixture
def team(make_user, root):
    """`team`: owner olga, member max, viewer vic (with rbac.view_project, as every role has it);
    `outsider` sees projects but is in none of these."""
    olga, max_, vic = (make_user(name, "rbac.view_project") for name in ("olga", "max", "vic"))
    project = services.create_project(None, "team", "vision team", owner=olga)
    services.set_member(root, project, max_, ProjectRole.MEMBER)
    services.set_member(root, project, vic, ProjectRole.VIEWER)
    return {"project": project, "owner": olga, "member": max_, "viewer": vic,
            "outsider": make_user("otto", "rbac.view_project")}


# --- list -------------------------------------------------------------------------------------

def _names(response):
    return [row.record.name for row in response.context["table"].page.object_list]


def test_list_sorts_filters_with_chips_and_exports_the_filtered_list(client, root):
    for i in range(1, 7):
        services.create_project(None, f"p{i}", "=cmd" if i == 1 else f"team {i}",
                                gpu_quota=8 if i % 2 else None, owner=root)
    client.force_login(root)
    assert _names(client.get(LIST + "?sort=-name"))[0] == "p6"
    response = client.get(LIST + "?has_quota=true")
    assert _names(response) == ["p1", "p3", "p5"]
    chips = response.context["active_filters"]
    assert [(c["label"], c["value"]) for c in chips] == [("Has a GPU quota", "yes")]
    assert 'aria-label="Remove filter Has a GPU quota yes"' in response.content.decode()
    export = client.get(LIST + "?has_quota=true&export=csv")
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0][:4] == ["Name", "Description", "Members", "Owners"]
    assert [r[0] for r in rows[1:]] == ["p1", "p3", "p5"]
    assert rows[1][1] == "'=cmd" and rows[1][3] == "root"  # formula neutralised; owners by name
    assert _names(client.get(LIST + "?q=team+4")) == ["p4"]


def test_list_shows_only_visible_projects_and_guides_when_there_are_none(client, team, make_user):
    client.force_login(team["outsider"])
    response = client.get(LIST)
    assert response.context["is_empty"] and "No projects yet" in response.content.decode()
    assert reverse("rbac:project_add") not in response.content.decode()  # no permission to add
    client.force_login(team["viewer"])
    assert _names(client.get(LIST)) == ["team"]


def test_list_queries_do_not_grow_with_rows(client, root, make_user):
    client.force_login(root)
    counts = []
    for size in (3, 30):
        for i in range(Project.objects.count(), size):
            project = services.create_project(None, f"q{i:03d}", owner=root)
            services.set_member(root, project, make_user(f"u{i:03d}"), ProjectRole.OWNER)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(LIST).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts


# --- create, edit, delete ---------------------------------------------------------------------

def test_create_makes_the_creator_owner_and_writes_one_audit_entry(client, make_user):
    creator = make_user("pat", "rbac.add_project", "rbac.view_project")
    client.force_login(creator)
    form = client.get(reverse("rbac:project_add"))
    assert form.status_code == 200 and 'name="gpu_quota"' in form.content.decode()
    response = client.post(reverse("rbac:project_add"), {"name": "vision", "description": "cv", "gpu_quota": "4"})
    project = Project.objects.get(name="vision")
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/"
    assert project.gpu_quota == 4 and project.memberships.get().user == creator
    assert _audit() == ["project.create"]


@pytest.mark.parametrize("name, message", [("Bad Name", "lowercase letters"),
                                           ("team", "already exists")])
def test_create_refusals_show_under_the_name_field(client, team, root, name, message):
    client.force_login(root)
    before = AuditEvent.objects.count()
    response = client.post(reverse("rbac:project_add"), {"name": name})
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors["name"])
    html = response.content.decode()
    assert 'id="id_name_error_1"' in html and "{&#x27;name&#x27;" not in html
    assert AuditEvent.objects.count() == before


def test_create_needs_the_model_permission(client, team):
    client.force_login(team["owner"])
    assert client.get(reverse("rbac:project_add")).status_code == 403
    assert client.post(reverse("rbac:project_add"), {"name": "mine"}).status_code == 403
    assert not Project.objects.filter(name="mine").exists()


def test_owner_edits_the_description_but_not_the_quotas(client, team):
    project = team["project"]
    url = reverse("rbac:project_edit", args=[project.pk])
    client.force_login(team["owner"])
    form = client.get(url)
    assert form.status_code == 200 and form.context["form"].fields["gpu_quota"].disabled
    before = len(_audit())
    # A disabled field keeps its value whatever is posted.
    response = client.post(url, {"description": "new words", "gpu_quota": "64"})
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.description == "new words" and project.gpu_quota is None
    assert _audit()[before:] == ["project.update"]


def test_operator_sets_quotas_and_bad_values_show_under_the_field(client, team, root):
    project = team["project"]
    url = reverse("rbac:project_edit", args=[project.pk])
    client.force_login(root)
    response = client.post(url, {"description": "x", "gpu_quota": "-1"})
    assert response.status_code == 400 and "gpu_quota" in response.context["form"].errors
    assert client.post(url, {"description": "x", "gpu_quota": "16", "gpu_hours_quota": ""}).status_code == 302
    project.refresh_from_db()
    assert project.gpu_quota == 16 and project.gpu_hours_quota is None


@pytest.mark.parametrize("who, status", [("member", 403), ("viewer", 403), ("outsider", 404)])
def test_edit_and_delete_refused_by_role(client, team, who, status):
    project = team["project"]
    client.force_login(team[who])
    before = AuditEvent.objects.count()
    for url in (reverse("rbac:project_edit", args=[project.pk]), reverse("rbac:project_delete", args=[project.pk])):
        assert client.get(url).status_code == status
        assert client.post(url, {"description": "x", "confirm": "yes"}).status_code == status
    assert Project.objects.get(pk=project.pk).description == "vision team"
    assert AuditEvent.objects.count() == before


def test_delete_says_what_blocks_it_and_offers_no_button_then(client, team, root):
    from apps.keyvault import services as vault
    from apps.nodes.models import Node

    project = team["project"]
    node = Node.objects.create(name="gpu-01", address="10.0.0.1", project=project)
    vault.create_secret(root, name="ssh-key", value="v", project=project)
    url = reverse("rbac:project_delete", args=[project.pk])
    client.force_login(root)
    html = client.get(url).content.decode()
    assert "still owns 1 node, 1 secret: move them" in html and 'name="confirm" value="yes"' not in html
    before = AuditEvent.objects.count()
    response = client.post(url, {"confirm": "yes"}, follow=True)
    assert Project.objects.filter(pk=project.pk).exists() and AuditEvent.objects.count() == before
    assert "move or delete them first" in response.content.decode()
    node.delete()


def test_delete_confirms_then_deletes_with_one_audit_entry(client, team):
    project = team["project"]
    url = reverse("rbac:project_delete", args=[project.pk])
    client.force_login(team["owner"])  # owners may delete their own project
    confirm = client.get(url).content.decode()
    assert "its 3 memberships and its 0 object grants will be deleted" in confirm
    assert client.post(url).status_code == 200 and Project.objects.filter(pk=project.pk).exists()
    response = client.post(url, {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == LIST
    assert not Project.objects.filter(pk=project.pk).exists()
    assert _audit()[-1:] == ["project.delete"] and _audit().count("project.delete") == 1


# --- members ----------------------------------------------------------------------------------

def test_owner_adds_changes_and_removes_a_member(client, team, make_user):
    project = team["project"]
    newbie = make_user("newbie")
    client.force_login(team["owner"])
    page = client.get(project.get_absolute_url()).content.decode()
    assert 'id="member-form"' in page and reverse("rbac:member_remove", args=[project.pk, "max"]) in page
    before = AuditEvent.objects.count()
    response = client.post(reverse("rbac:member_add", args=[project.pk]), {"username": "newbie", "role": "viewer"})
    assert response.status_code == 302 and response["Location"] == project.get_absolute_url()
    assert Membership.objects.get(project=project, user=newbie).role == ProjectRole.VIEWER
    assert AuditEvent.objects.count() == before + 1

    role_url = reverse("rbac:member_role", args=[project.pk, "newbie"])
    assert client.get(role_url).context["form"].initial == {"role": "viewer"}
    assert client.post(role_url, {"role": "owner"}).status_code == 302
    assert Membership.objects.get(project=project, user=newbie).role == ProjectRole.OWNER
    assert AuditEvent.objects.count() == before + 2

    remove_url = reverse("rbac:member_remove", args=[project.pk, "newbie"])
    confirm = client.get(remove_url).content.decode()
    assert "newbie (owner) will no longer be a member of team" in confirm
    assert Membership.objects.filter(project=project, user=newbie).exists()  # asking removed nothing
    assert client.post(remove_url, {"confirm": "yes"}).status_code == 302
    assert not Membership.objects.filter(project=project, user=newbie).exists()
    assert not newbie.groups.filter(pk=project.group_id).exists()
    assert _audit()[-3:] == ["project.member_set", "project.member_set", "project.member_remove"]
    assert AuditEvent.objects.count() == before + 3


def test_unknown_user_is_refused_under_the_user_name_field(client, team):
    client.force_login(team["owner"])
    before = AuditEvent.objects.count()
    response = client.post(reverse("rbac:member_add", args=[team["project"].pk]), {"username": "ghost", "role": "member"})
    assert response.status_code == 400
    assert response.context["form"].errors["username"] == ["No active user named 'ghost'."]
    assert 'id="id_username_error_1"' in response.content.decode()
    assert AuditEvent.objects.count() == before


def test_the_last_owner_is_refused_under_the_role_field_and_on_removal(client, team):
    project = team["project"]
    client.force_login(team["owner"])
    before = AuditEvent.objects.count()
    response = client.post(reverse("rbac:member_role", args=[project.pk, "olga"]), {"role": "member"})
    assert response.status_code == 409
    assert "last owner" in " ".join(response.context["form"].errors["role"])
    response = client.post(reverse("rbac:member_remove", args=[project.pk, "olga"]), {"confirm": "yes"}, follow=True)
    assert "last owner" in response.content.decode()
    assert Membership.objects.get(project=project, user=team["owner"]).role == ProjectRole.OWNER
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("who, status", [("member", 403), ("viewer", 403), ("outsider", 404)])
def test_member_pages_refused_by_role(client, team, who, status):
    project = team["project"]
    client.force_login(team[who])
    before = AuditEvent.objects.count()
    assert 'id="member-form"' not in client.get(project.get_absolute_url()).content.decode() or status == 404
    for url, data in ((reverse("rbac:member_add", args=[project.pk]), {"username": "otto", "role": "owner"}),
                      (reverse("rbac:member_role", args=[project.pk, "vic"]), {"role": "owner"}),
                      (reverse("rbac:member_remove", args=[project.pk, "vic"]), {"confirm": "yes"})):
        assert client.get(url).status_code == status, url
        assert client.post(url, data).status_code == status, url
    assert AuditEvent.objects.count() == before
    assert Membership.objects.get(project=project, user=team["viewer"]).role == ProjectRole.VIEWER


def test_a_manager_gets_404_for_someone_who_is_no_member(client, team):
    client.force_login(team["owner"])
    assert client.get(reverse("rbac:member_role", args=[team["project"].pk, "otto"])).status_code == 404
    assert client.get(reverse("rbac:member_remove", args=[team["project"].pk, "otto"])).status_code == 404


# --- grants -----------------------------------------------------------------------------------

def test_grant_form_refusals_show_under_the_field(client, team, root):
    url = reverse("rbac:grant_add", args=[team["project"].pk])
    client.force_login(root)
    assert client.get(url).status_code == 200
    response = client.post(url, {"object_type": "rbac.project", "object_id": "999999", "permission": "view"})
    assert response.status_code == 400
    assert response.context["form"].errors["object_id"] == ["Unknown object, or you may not see it."]
    response = client.post(url, {"object_type": "auth.user", "object_id": "1", "permission": "view"})
    assert response.status_code == 400 and "object_type" in response.context["form"].errors
    assert not _audit("grant.")
