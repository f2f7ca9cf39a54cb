"""One-time tokens: issue (shown once, stored hashed), list, revoke, and every redeem refusal."""
import hashlib
import logging
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.models import AuditEvent
from apps.keyvault import onetime, purposes, tokens
from apps.keyvault.models import OneTimeToken, SecretAccess, TokenRedemption

from .conftest import VALUE

pytestmark = pytest.mark.django_db

REDEEM = "/api/v1/keyvault/redeem/"


@pytest.fixture
def issuer(make_user):
    return make_user("issuer", "keyvault.add_onetimetoken", "keyvault.view_secret", "keyvault.reveal_secret",
                     "rbac.unrestricted")


@pytest.fixture
def issue(keys, make_secret, issuer, api):
    make_secret("munge")

    def make(**body):
        resp = api(issuer).post("/api/v1/keyvault/tokens/", {"purpose": "secret", "subject": "munge", **body},
                                format="json")
        assert resp.status_code == 201, resp.content
        return resp.json()
    return make


def redeem(token, timestamp=None, ip="127.0.0.1"):
    body = {"token": token, "timestamp": time.time() if timestamp is None else timestamp}
    return APIClient().post(REDEEM, body, format="json", REMOTE_ADDR=ip)


def test_issue_shows_the_token_once_and_stores_only_its_hash(issue, issuer, api):
    issued = issue()
    token = issued["token"]
    assert token.startswith("kv1.") and set(issued) >= {"id", "token", "expires_at"}
    row = OneTimeToken.objects.get(pk=issued["id"])
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert 299 <= (row.expires_at - timezone.now()).total_seconds() <= 300
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM keyvault_onetimetoken WHERE id = %s", [row.pk])
        raw = " ".join(str(v) for v in cursor.fetchone())
    signature, nonce = token.rsplit(".", 1)[1], token.split(".")[1]
    assert token not in raw and signature not in raw and nonce not in raw
    listed = api(issuer).get("/api/v1/keyvault/tokens/")
    assert token.encode() not in listed.content and signature.encode() not in listed.content
    entry = listed.json()["results"][0]
    assert entry["token_prefix"] == token[:12] and entry["status"] == "active" and "token" not in entry
    detail = api(issuer).get(f"/api/v1/keyvault/tokens/{row.pk}/")
    assert detail.status_code == 200 and token.encode() not in detail.content
    audit = AuditEvent.objects.get(action="keyvault.token.issue")
    assert token not in str(audit.changes) and audit.changes["after"]["subject"] == "munge"


def test_redeem_delivers_the_secret_once_then_replay_is_refused(issue, caplog):
    caplog.set_level(logging.DEBUG)
    token = issue()["token"]
    resp = redeem(token)
    assert resp.status_code == 200, resp.content
    assert resp.json()["value"] == VALUE and resp.json()["name"] == "munge"
    assert "no-store" in resp["Cache-Control"]
    access = SecretAccess.objects.get()
    assert access.kind == "token" and access.ip == "127.0.0.1" and "one-time token" in access.purpose
    row = OneTimeToken.objects.get()
    assert row.consumed_at is not None and row.consumed_by_ip == "127.0.0.1" and row.status == "consumed"
    again = redeem(token)
    assert again.status_code == 409 and again.json()["code"] == "replayed"
    assert list(TokenRedemption.objects.order_by("id").values_list("outcome", "token_id")) == [
        ("ok", row.pk), ("replayed", row.pk)]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in logged and VALUE not in logged


def _tamper(token: str, **changes) -> str:
    import base64
    import json

    version, nonce, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    payload = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return ".".join([version, nonce, payload, signature])


def test_forged_and_tampered_tokens_are_refused(issue, settings):
    token = issue()["token"]
    other_key = tokens.TokenClaims(id=str(uuid.uuid4()), purpose="secret", subject="munge", nonce="n" * 22,
                                   expiry=int(time.time()) + 60)
    cases = {
        "garbage": "not-a-token",
        "other subject": _tamper(token, s="another-secret"),
        "longer expiry": _tamper(token, e=int(time.time()) + 86400),
        "other nonce": token.replace(token.split(".")[1], "A" * 22),
        "cut signature": token[:-4],
    }
    settings.TOKEN_SIGNING_KEY = "someone-elses-key"
    cases["signed with another key"] = tokens.build(other_key)
    settings.TOKEN_SIGNING_KEY = ""
    for name, forged in cases.items():
        resp = redeem(forged)
        assert (resp.status_code, resp.json()["code"]) == (403, "forged"), name
    assert TokenRedemption.objects.filter(outcome="forged", token=None).count() == len(cases)
    assert redeem(token).status_code == 200  # the real one still works


def test_expired_token_is_refused(issue, monkeypatch):
    token = issue(ttl=60)["token"]
    later = timezone.now() + timedelta(seconds=61)
    monkeypatch.setattr(timezone, "now", lambda: later)
    resp = redeem(token, timestamp=later.timestamp())
    assert (resp.status_code, resp.json()["code"]) == (410, "expired")
    assert not SecretAccess.objects.exists()


def test_bound_ip_is_enforced(issue):
    token = issue(bind_ip="10.0.0.5")["token"]
    resp = redeem(token, ip="10.0.0.6")
    assert (resp.status_code, resp.json()["code"]) == (403, "wrong_ip")
    assert TokenRedemption.objects.get(outcome="wrong_ip").ip == "10.0.0.6"
    assert redeem(token, ip="10.0.0.5").status_code == 200


@pytest.mark.parametrize("offset", [-11, 11])
def test_stale_or_future_timestamp_is_refused(issue, offset):
    token = issue()["token"]
    resp = redeem(token, timestamp=time.time() + offset)
    assert (resp.status_code, resp.json()["code"]) == (400, "stale_timestamp")
    assert redeem(token).status_code == 200  # refused requests do not burn the token


def test_missing_fields_are_invalid_and_logged(issue):
    token = issue()["token"]
    resp = APIClient().post(REDEEM, {"token": token}, format="json")
    assert (resp.status_code, resp.json()["code"]) == (400, "invalid")
    resp = APIClient().post(REDEEM, "{broken", content_type="application/json")
    assert (resp.status_code, resp.json()["code"]) == (400, "invalid")
    assert TokenRedemption.objects.filter(outcome="invalid").count() == 2


def test_revoked_and_unknown_tokens_are_refused(issue, issuer, api):
    issued = issue()
    assert api(issuer).delete(f"/api/v1/keyvault/tokens/{issued['id']}/").status_code == 204
    resp = redeem(issued["token"])
    assert (resp.status_code, resp.json()["code"]) == (404, "unknown")
    again = api(issuer).delete(f"/api/v1/keyvault/tokens/{issued['id']}/")
    assert again.status_code == 409 and "already revoked" in again.json()["detail"]
    assert AuditEvent.objects.filter(action="keyvault.token.revoke").count() == 1
    # Correctly signed by this server but never issued (e.g. its row was deleted).
    ghost = tokens.build(tokens.TokenClaims(id=str(uuid.uuid4()), purpose="secret", subject="munge",
                                            nonce=tokens.new_nonce(), expiry=int(time.time()) + 60))
    resp = redeem(ghost)
    assert (resp.status_code, resp.json()["code"]) == (404, "unknown")


def test_deleted_secret_is_unavailable_and_the_token_is_not_burnt(issue, root):
    from apps.keyvault import services
    from apps.keyvault.models import Secret

    token = issue()["token"]
    services.delete_secret(root, Secret.objects.get(name="munge"))
    resp = redeem(token)
    assert (resp.status_code, resp.json()["code"]) == (409, "unavailable")
    assert OneTimeToken.objects.get().consumed_at is None


@pytest.mark.parametrize("body, field, code", [
    ({"ttl": 3601}, "ttl", 400),
    ({"ttl": 0}, "ttl", 400),
    ({"purpose": "nope"}, "purpose", 400),
    ({"subject": "no-such-secret"}, "subject", 400),
    ({"bind_ip": "not-an-ip"}, "bind_ip", 400),
])
def test_issue_validation(issue, issuer, api, body, field, code):
    resp = api(issuer).post("/api/v1/keyvault/tokens/", {"purpose": "secret", "subject": "munge", **body},
                            format="json")
    assert resp.status_code == code and field in resp.json(), resp.content


def test_max_ttl_is_accepted(issue):
    issued = issue(ttl=3600)
    row = OneTimeToken.objects.get(pk=issued["id"])
    assert 3599 <= (row.expires_at - timezone.now()).total_seconds() <= 3600


def test_other_purposes_plug_in_through_the_registry(keys, issuer, monkeypatch):
    delivered = []
    purpose = purposes.TokenPurpose("test_enroll", "Test enrollment", authorize=lambda user, subject: None,
                                    deliver=lambda token: delivered.append(token.subject) or {"ok": True})
    monkeypatch.setitem(purposes._registry, purpose.name, purpose)
    row, token = onetime.issue_token(issuer, "test_enroll", "node-17")
    assert onetime.redeem(token, time.time(), "127.0.0.1") == {
        "id": str(row.pk), "purpose": "test_enroll", "subject": "node-17", "ok": True}
    assert delivered == ["node-17"]
