"""Who may do what in the key vault, through projects (every keyvault route x every role template
is in the generated contract, tests/contract).

Project members see only their projects' secrets (others answer 404); the project role decides
change (member) and reveal (owner); a `secret` token hands a value out, so it needs exactly what
reveal needs.
"""
import ipaddress
import time

import pytest
from rest_framework.test import APIClient

from apps.keyvault import onetime, services
from apps.keyvault.models import OneTimeToken
from apps.rbac.models import Membership

from .conftest import VALUE

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(keys, make_user, make_project, make_secret):
    perms = ["keyvault.view_secret", "keyvault.add_secret", "keyvault.change_secret", "keyvault.delete_secret",
             "keyvault.reveal_secret",
             "keyvault.add_onetimetoken", "keyvault.view_secretaccess"]
    users = {name: make_user(name, *perms) for name in ["owner", "member", "viewer", "stranger"]}
    team_a = make_project("team-a", (users["owner"], "owner"), (users["member"], "member"),
                          (users["viewer"], "viewer"))
    team_b = make_project("team-b", (users["stranger"], "owner"))
    return {**users, "a": make_secret("a-key", project=team_a), "b": make_secret("b-key", project=team_b),
            "global": make_secret("global-key")}


def test_members_see_only_their_projects_secrets(world, api):
    for name in ["owner", "member", "viewer"]:
        client = api(world[name])
        assert [s["name"] for s in client.get("/api/v1/secrets/").json()["results"]] == ["a-key"]
        for secret in (world["b"], world["global"]):
            for method, suffix in [("get", ""), ("patch", ""), ("delete", ""), ("post", "reveal/"),
                                   ("get", "access-log/")]:
                resp = getattr(client, method)(f"/api/v1/secrets/{secret.pk}/{suffix}", {}, format="json")
                assert resp.status_code == 404, (name, secret.name, method, suffix)
    assert [s["name"] for s in api(world["stranger"]).get("/api/v1/secrets/").json()["results"]] == ["b-key"]


def test_project_role_decides_change_and_reveal(world, api):
    url = f"/api/v1/secrets/{world['a'].pk}/"
    assert api(world["viewer"]).patch(url, {"description": "v"}, format="json").status_code == 403
    assert api(world["member"]).patch(url, {"description": "m"}, format="json").status_code == 200
    assert api(world["viewer"]).post(url + "reveal/").status_code == 403
    assert api(world["member"]).post(url + "reveal/").status_code == 403
    resp = api(world["owner"]).post(url + "reveal/")
    assert resp.status_code == 200 and resp.json()["name"] == "a-key"
    assert api(world["member"]).delete(url).status_code == 403
    assert api(world["owner"]).delete(url).status_code == 204


def test_creating_secrets_needs_a_project_the_user_may_add_to(world, api):
    client = api(world["member"])
    assert client.post("/api/v1/secrets/", {"name": "m1", "value": "v", "project": "team-a"},
                       format="json").status_code == 201
    assert client.post("/api/v1/secrets/", {"name": "m2", "value": "v", "project": "team-b"},
                       format="json").status_code == 403
    assert client.post("/api/v1/secrets/", {"name": "m3", "value": "v"}, format="json").status_code == 403
    assert api(world["viewer"]).post("/api/v1/secrets/", {"name": "v1", "value": "v", "project": "team-a"},
                                     format="json").status_code == 403
    moved = client.patch(f"/api/v1/secrets/{world['a'].pk}/", {"project": "team-b"}, format="json")
    assert moved.status_code == 403


def test_tokens_only_for_visible_secrets_and_only_the_creators(world, api):
    client = api(world["owner"])
    ok = client.post("/api/v1/keyvault/tokens/", {"purpose": "secret", "subject": "a-key"}, format="json")
    assert ok.status_code == 201
    hidden = client.post("/api/v1/keyvault/tokens/", {"purpose": "secret", "subject": "b-key"}, format="json")
    missing = client.post("/api/v1/keyvault/tokens/", {"purpose": "secret", "subject": "nope"}, format="json")
    assert hidden.status_code == missing.status_code == 400
    assert hidden.json()["subject"][0].replace("b-key", "X") == missing.json()["subject"][0].replace("nope", "X")
    token_url = f"/api/v1/keyvault/tokens/{ok.json()['id']}/"
    assert api(world["member"]).get("/api/v1/keyvault/tokens/").json()["count"] == 0
    assert api(world["member"]).get(token_url).status_code == 404
    assert api(world["member"]).delete(token_url).status_code == 404
    assert client.get(token_url).status_code == 200
    assert client.delete(token_url).status_code == 204


def test_a_token_needs_reveal_access_like_reveal_itself(world, api):
    """Finding: a member refused reveal issued a `secret` token and redeemed it anonymously."""
    for name in ("member", "viewer"):
        client = api(world[name])
        assert client.post(f"/api/v1/secrets/{world['a'].pk}/reveal/").status_code == 403
        resp = client.post("/api/v1/keyvault/tokens/", {"purpose": "secret", "subject": "a-key"}, format="json")
        assert resp.status_code == 403 and "reveal" in resp.json()["detail"]
        assert "token" not in resp.json()
    assert not OneTimeToken.objects.exists()


def test_a_token_stops_working_when_its_issuer_loses_reveal(world, api):
    row, token = onetime.issue_token(world["owner"], "secret", "a-key")
    Membership.objects.filter(user=world["owner"]).update(role="member")
    resp = APIClient().post("/api/v1/keyvault/redeem/", {"token": token, "timestamp": time.time()}, format="json")
    assert resp.status_code == 409 and VALUE.encode() not in resp.content
    row.refresh_from_db()
    assert row.consumed_at is None


def test_a_token_delivers_the_secret_it_was_issued_for_after_renames(world, make_secret):
    """Tokens keep the secret's primary key: a rename and a new secret under the old name in
    between change nothing about what is delivered."""
    row, token = onetime.issue_token(world["owner"], "secret", "a-key")
    services.update_secret(world["owner"], world["a"], name="a-key-old")
    make_secret("a-key", value="the-impostor-value")
    delivered = onetime.redeem(token, time.time(), "127.0.0.1")
    assert delivered["name"] == "a-key-old" and delivered["value"] == VALUE and row.subject == "a-key"


def test_access_log_follows_secret_visibility(world, api):
    for secret in (world["a"], world["b"], world["global"]):
        services.use_secret(secret, "nightly check", destination=("10.1.2.3", [ipaddress.ip_address("10.1.2.3")]))
    names = [e["secret_name"] for e in api(world["viewer"]).get("/api/v1/keyvault/access-log/").json()["results"]]
    assert names == ["a-key"]
    row, token = onetime.issue_token(world["owner"], "secret", "a-key")
    onetime.redeem(token, time.time(), "127.0.0.1")
    own = api(world["owner"]).get("/api/v1/keyvault/redemptions/").json()["results"]
    assert [(r["token"], r["outcome"]) for r in own] == [(str(row.pk), "ok")]
    assert api(world["member"]).get("/api/v1/keyvault/redemptions/").json()["count"] == 0
