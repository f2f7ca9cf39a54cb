"""Object grants through one service (finding 3 of issue 7: guardian's admin pages granted access
with no audit entry): checked (manage the object and the grantee to grant), audited once per
grant or revoke, through the API (projects and users) and the project page."""
import pytest
from django.contrib.auth.models import Group

from apps.core.errors import Conflict, Forbidden
from apps.core.models import AuditEvent
from apps.rbac import services
from apps.rbac.models import ProjectRole

pytestmark = pytest.mark.django_db


def _grant_audit():
    return list(AuditEvent.objects.filter(action__startswith="grant.").order_by("id").values_list(
        "action", "actor__username"))


@pytest.fixture
def world(make_user):
    root = make_user("root", superuser=True)
    dev = make_user("dev")
    dev.groups.add(Group.objects.get(name="data-developer"))
    sre = make_user("sam")
    sre.groups.add(Group.objects.get(name="sre"))
    team = services.create_project(None, "team", owner=dev)
    shared = services.create_project(None, "shared")
    outsider = make_user("eve")
    outsider.groups.add(Group.objects.get(name="data-developer"))
    return {"root": root, "dev": dev, "sre": sre, "team": team, "shared": shared, "eve": outsider}


def test_grant_needs_the_object_and_the_grantee(world):
    team, shared = world["team"], world["shared"]
    # The project's owner manages the grantee but not the object: no self-service access.
    with pytest.raises(Forbidden):
        services.grant(world["dev"], team, shared, "view")
    # An operator who does not manage the project cannot hand it access either.
    with pytest.raises(Forbidden):
        services.grant(world["sre"], team, shared, "view")
    services.grant(world["root"], team, shared, "view")
    with pytest.raises(Conflict):
        services.grant(world["root"], team, shared, "view")
    # The project may give the access up again (revoking needs either side).
    services.revoke(world["dev"], team, shared, "view")
    assert _grant_audit() == [("grant.add", "root"), ("grant.remove", "dev")]


def test_project_grants_api(world, api):
    team, shared, dev = world["team"], world["shared"], world["dev"]
    url = f"/api/v1/projects/{team.pk}/grants/"
    body = {"object_type": "rbac.project", "object_id": str(shared.pk), "permission": "view"}
    assert api(dev).get(f"/api/v1/projects/{shared.pk}/").status_code == 404
    resp = api(dev).post(url, body, format="json")  # owner of team, but shared is out of their sight
    assert resp.status_code == 400 and "object_id" in resp.json()
    assert api(world["sre"]).post(url, body, format="json").status_code == 403  # sees team, does not manage it
    assert api(world["eve"]).get(url).status_code == 404  # not a member: the project is out of reach
    resp = api(world["root"]).post(url, body, format="json")
    assert resp.status_code == 201, resp.content
    grant = resp.json()
    assert grant["object_repr"] == "shared" and grant["permission"] == "view"
    assert api(dev).get(f"/api/v1/projects/{shared.pk}/").status_code == 200  # the members see it now
    assert api(dev).get(url).json() == [grant]

    bad = api(world["root"]).post(url, {**body, "object_type": "nodes.nothing"}, format="json")
    assert bad.status_code == 400 and "object_type" in bad.json()
    bad = api(world["root"]).post(url, {**body, "object_id": "x\x00y"}, format="json")
    assert bad.status_code == 400 and "object_id" in bad.json()
    bad = api(world["root"]).post(url, {**body, "permission": "fly"}, format="json")
    assert bad.status_code == 400 and "permission" in bad.json()

    assert api(world["eve"]).delete(f"{url}{grant['id']}/").status_code == 404
    assert api(dev).delete(f"{url}{grant['id']}/").status_code == 204  # the owner gives it up
    assert api(dev).get(f"/api/v1/projects/{shared.pk}/").status_code == 404
    assert api(dev).delete(f"{url}{grant['id']}/").status_code == 400
    assert _grant_audit() == [("grant.add", "root"), ("grant.remove", "dev")]


def test_user_grants_api(world, api):
    eve, shared = world["eve"], world["shared"]
    url = f"/api/v1/users/{eve.pk}/grants/"
    body = {"object_type": "rbac.project", "object_id": str(shared.pk), "permission": "view"}
    assert api(eve).post(url, body, format="json").status_code == 403  # not a user administrator
    resp = api(world["root"]).post(url, body, format="json")
    assert resp.status_code == 201
    assert api(eve).get(url).json() == [resp.json()]  # users see their own grants
    assert api(eve).get(f"/api/v1/projects/{shared.pk}/").status_code == 200
    assert api(world["dev"]).get(url).status_code == 404  # and nobody else's
    assert api(world["root"]).delete(f"{url}{resp.json()['id']}/").status_code == 204
    assert api(eve).get(f"/api/v1/projects/{shared.pk}/").status_code == 404
    assert [a for a, _ in _grant_audit()] == ["grant.add", "grant.remove"]


def test_grants_page_adds_and_revokes_after_confirmation(world, client):
    team, shared = world["team"], world["shared"]
    client.force_login(world["root"])
    page = f"/projects/{team.pk}/"
    resp = client.post(f"/projects/{team.pk}/grants/", {"object_type": "rbac.project", "object_id": str(shared.pk),
                                                        "permission": "view"})
    assert resp.status_code == 302 and resp["Location"] == page
    grant = services.list_grants(world["root"], team)[0]
    html = client.get(page).content.decode()
    assert 'id="grant-list"' in html and ">shared<" in html
    revoke_url = f"/projects/{team.pk}/grants/{grant.id}/revoke/"
    assert revoke_url in html
    confirm = client.get(revoke_url)
    assert confirm.status_code == 200 and "will no longer have view on shared" in confirm.content.decode()
    assert 'name="confirm" value="yes"' in confirm.content.decode()
    assert services.list_grants(world["root"], team)  # a GET revokes nothing
    assert client.post(revoke_url).status_code == 200  # a POST without the confirmation asks again
    assert services.list_grants(world["root"], team)
    assert client.post(revoke_url, {"confirm": "yes"}).status_code == 302
    assert not services.list_grants(world["root"], team)
    assert [a for a, _ in _grant_audit()] == ["grant.add", "grant.remove"]

    # A member who does not manage the project sees the grants but no forms, and cannot post.
    member = world["eve"]
    services.set_member(world["root"], team, member, ProjectRole.MEMBER)
    client.force_login(member)
    html = client.get(page).content.decode()
    assert 'id="grant-list"' in html and 'id="grant-form"' not in html
    refused = client.post(f"/projects/{team.pk}/grants/", {"object_type": "rbac.project",
                                                           "object_id": str(shared.pk), "permission": "view"})
    assert refused.status_code == 403
    assert not services.list_grants(world["root"], team) and len(_grant_audit()) == 2


def test_only_objects_placed_in_projects_can_be_granted(world, api):
    """The grant form offered only project-placed models; the API once accepted any content type
    (a user account, an audit entry). The service decides, for both."""
    client = api(world["root"])
    url = f"/api/v1/projects/{world['team'].pk}/grants/"
    for object_type, object_id in (("auth.user", world["eve"].pk), ("core.auditevent", 1)):
        resp = client.post(url, {"object_type": object_type, "object_id": str(object_id), "permission": "view"},
                           format="json")
        assert resp.status_code == 400 and "object_type" in resp.json(), (object_type, resp.content)
    assert "rbac.project" in {t for t, _ in services.grantable_types()}
    ok = client.post(url, {"object_type": "rbac.project", "object_id": str(world["shared"].pk), "permission": "view"},
                     format="json")
    assert ok.status_code == 201
    assert not any(t == "auth.user" for t, _ in services.grantable_types())
