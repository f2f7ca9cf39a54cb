"""Who may do what in the key vault.

1. Every keyvault endpoint x every role template (the real groups synced after migrate) + anonymous.
   The objects belong to nobody in the matrix: a secret without project (operators only) and a
   token issued by an outsider. admin: everything; sre: register/update/read metadata, no
   delete, no reveal, no tokens; developers and engineers: nothing.
2. Object permissions: project members see only their projects' secrets (others answer 404);
   the project role decides change (member) and reveal (owner); a `secret` token hands a value
   out, so it needs exactly what reveal needs.
"""
import ipaddress
import time

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from apps.keyvault import onetime, services
from apps.keyvault.models import OneTimeToken
from apps.rbac.models import Membership

from .conftest import VALUE
from apps.rbac.roles import ROLE_TEMPLATES

pytestmark = pytest.mark.django_db

ROLES = list(ROLE_TEMPLATES)
ANON = 401
DEV = "data-developer,model-developer,engineer"

MATRIX = [
    ("GET", "/api/v1/secrets/", None, {"admin,sre": 200, DEV: 403}),
    ("POST", "/api/v1/secrets/", {"name": "new-{role}", "value": "v"}, {"admin,sre": 201, DEV: 403}),
    ("GET", "/api/v1/secrets/{secret}/", None, {"admin,sre": 200, DEV: 403}),
    ("PATCH", "/api/v1/secrets/{secret}/", {"description": "x"}, {"admin,sre": 200, DEV: 403}),
    ("PATCH", "/api/v1/secrets/{secret}/", {"value": "rotated"}, {"admin,sre": 200, DEV: 403}),
    ("DELETE", "/api/v1/secrets/{secret}/", None, {"admin": 204, "sre": 403, DEV: 403}),
    ("POST", "/api/v1/secrets/{secret}/reveal/", None, {"admin": 200, "sre": 403, DEV: 403}),
    ("GET", "/api/v1/secrets/{secret}/access-log/", None, {"admin,sre": 200, DEV: 403}),
    ("GET", "/api/v1/keyvault/access-log/", None, {"admin,sre": 200, DEV: 403}),
    ("GET", "/api/v1/keyvault/tokens/", None, {"admin,sre": 200, DEV: 200}),
    ("POST", "/api/v1/keyvault/tokens/", {"purpose": "secret", "subject": "{secret_name}"},
     {"admin": 201, "sre": 403, DEV: 403}),
    ("GET", "/api/v1/keyvault/tokens/{token}/", None, {"admin": 200, "sre": 404, DEV: 404}),
    ("DELETE", "/api/v1/keyvault/tokens/{token}/", None, {"admin": 204, "sre": 404, DEV: 404}),
    ("GET", "/api/v1/keyvault/redemptions/", None, {"admin,sre": 200, DEV: 200}),
    ("POST", "/api/v1/keyvault/redeem/", {"token": "kv1.x.y.z", "timestamp": 0}, {"*": 403, "anonymous": 403}),
]


def expand(spec: dict) -> dict:
    out = {}
    for key, code in spec.items():
        for role in key.split(","):
            if role != "*":
                out[role] = code
    for role in ROLES:
        out.setdefault(role, spec.get("*"))
    out.setdefault("anonymous", ANON)
    return out


def call(user, method, url, data=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return getattr(client, method.lower())(url, data, format="json")


@pytest.mark.parametrize("method, url, body, spec", MATRIX, ids=[f"{m} {u} {b or ''}" for m, u, b, _ in MATRIX])
def test_role_matrix(keys, django_user_model, make_user, method, url, body, spec):
    users = {"anonymous": None}
    for role in ROLES:
        user = django_user_model.objects.create_user(username=f"u-{role}")
        user.groups.add(Group.objects.get(name=role))
        users[role] = django_user_model.objects.get(pk=user.pk)
    outsider = make_user("outsider", superuser=True)
    results = {}
    for role, user in users.items():
        secret = services.create_secret(outsider, name=f"s-{role}", value="matrix-value")
        token, _ = onetime.issue_token(outsider, "secret", secret.name)
        target = url.format(secret=secret.pk, token=token.pk)
        payload = {k: v.format(role=role, secret_name=secret.name) if isinstance(v, str) else v
                   for k, v in (body or {}).items()}
        resp = call(user, method, target, payload or None)
        results[role] = resp.status_code
        assert b"matrix-value" not in resp.content or (role == "admin" and url.endswith("/reveal/"))
    assert results == expand(spec)


# --- object permissions through projects ----------------------------------------------------------
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
