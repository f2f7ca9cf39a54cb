"""Project owners manage their own project (README: "owner: everything") without the global
rbac.change_project / rbac.manage_project model permissions; nothing else widens."""
import pytest

from apps.rbac import services
from apps.rbac.models import Membership, Project, ProjectRole
from apps.rbac.permissions import can, restrict

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(make_user):
    root = make_user("root", superuser=True)
    owner, member, viewer = make_user("olga"), make_user("max"), make_user("vic")  # no model permissions at all
    project = services.create_project(None, "team", owner=owner)
    other = services.create_project(None, "other", owner=make_user("otto"))
    services.set_member(root, project, member, ProjectRole.MEMBER)
    services.set_member(root, project, viewer, ProjectRole.VIEWER)
    return {"root": root, "owner": owner, "member": member, "viewer": viewer, "project": project, "other": other}


def test_an_owner_manages_members_and_description_through_the_api(team, api, make_user):
    client, project = api(team["owner"]), team["project"]
    url = f"/api/v1/projects/{project.pk}/"
    assert client.get(url).status_code == 200
    resp = client.patch(url, {"description": "vision team"}, format="json")
    assert resp.status_code == 200 and resp.json()["description"] == "vision team"
    make_user("newbie")
    assert client.post(f"{url}members/", {"username": "newbie", "role": "member"}, format="json").status_code == 201
    assert client.delete(f"{url}members/max/").status_code == 204
    assert set(Membership.objects.filter(project=project).values_list("user__username", flat=True)) == {
        "olga", "newbie", "vic"}
    # Quotas bound what the project may use: operators set them, not the project's owners.
    resp = client.patch(url, {"gpu_quota": 64}, format="json")
    assert resp.status_code == 400 and "gpu_quota" in resp.json()
    assert Project.objects.get(pk=project.pk).gpu_quota is None


def test_the_project_page_offers_grants_to_the_owner(team, client):
    client.force_login(team["owner"])
    html = client.get(f"/projects/{team['project'].pk}/").content.decode()
    assert 'id="grant-form"' in html


def test_owner_rights_stop_at_their_own_project(team, api):
    project, other = team["project"], team["other"]
    owner = team["owner"]
    assert can(owner, project, "manage") and can(owner, project, "change")
    assert not can(owner, other, "view") and not can(owner, other, "manage")
    assert api(owner).get(f"/api/v1/projects/{other.pk}/").status_code == 404
    assert list(restrict(Project.objects.all(), owner, "manage")) == [project]
    # Members and viewers keep what they had: nothing without the model permissions.
    for user in (team["member"], team["viewer"]):
        client = api(user)
        assert not can(user, project, "change") and not can(user, project, "manage")
        assert client.patch(f"/api/v1/projects/{project.pk}/", {"description": "x"}, format="json").status_code == 404
        resp = client.post(f"/api/v1/projects/{project.pk}/members/", {"username": "root"}, format="json")
        assert resp.status_code in (403, 404)
    # An owner's role on the project is no model permission on what the project holds.
    from apps.nodes.models import Node

    node = Node.objects.create(name="n1", address="10.99.0.1", project=project)
    assert not can(owner, node, "view")
