"""Admin: metadata only, a write-only value field, read-only token list with revoke, read-only logs."""
import time

import pytest

from apps.core.models import AuditEvent
from apps.keyvault import onetime
from apps.keyvault.models import OneTimeToken, Secret

from .conftest import VALUE, system_read

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, root):
    client.force_login(root)
    return client


def _form(**overrides):
    data = {"name": "bmc-node1", "kind": "password", "project": "", "description": "",
            "expires_at_0": "", "expires_at_1": "", "new_value": VALUE, "destinations": "10.0.0.0/8\nbmc.example.org"}
    data.update(overrides)
    return data


def test_destinations_are_edited_in_the_admin(keys, admin_client):
    resp = admin_client.post("/admin/keyvault/secret/add/", _form(destinations="10.0.0.0/33"))
    assert resp.status_code == 200 and not Secret.objects.exists()
    assert admin_client.post("/admin/keyvault/secret/add/", _form(destinations="")).status_code == 302
    secret = Secret.objects.get()
    assert secret.destinations and "10.0.0.0/8" in secret.destinations  # the default
    page = admin_client.get(f"/admin/keyvault/secret/{secret.pk}/change/").content.decode()
    assert "10.0.0.0/8" in page
    resp = admin_client.post(f"/admin/keyvault/secret/{secret.pk}/change/", _form(destinations="10.9.0.0/16, bmc01.lab"))
    assert resp.status_code == 302
    secret.refresh_from_db()
    assert secret.destinations == ["10.9.0.0/16", "bmc01.lab"]
    assert AuditEvent.objects.get(action="keyvault.secret.update").changes["after"]["destinations"] == secret.destinations


def test_create_and_change_through_the_admin_never_show_the_value(keys, admin_client):
    resp = admin_client.post("/admin/keyvault/secret/add/", _form())
    assert resp.status_code == 302, resp.content.decode()[:2000]
    secret = Secret.objects.get(name="bmc-node1")
    assert system_read(secret, "t") == VALUE and secret.version == 1
    assert AuditEvent.objects.filter(action="keyvault.secret.create", actor__username="root").exists()

    page = admin_client.get(f"/admin/keyvault/secret/{secret.pk}/change/").content.decode()
    assert "bmc-node1" in page and 'name="new_value"' in page
    assert VALUE not in page and secret.ciphertext not in page and secret.checksum not in page
    assert secret.checksum_prefix in page

    # A validation error re-renders the form: the typed value must not come back.
    resp = admin_client.post(f"/admin/keyvault/secret/{secret.pk}/change/", _form(name="bad name!",
                                                                                 new_value="typed-NEW-1"))
    assert resp.status_code == 200 and "typed-NEW-1" not in resp.content.decode()
    assert Secret.objects.get(pk=secret.pk).version == 1

    resp = admin_client.post(f"/admin/keyvault/secret/{secret.pk}/change/", _form(new_value="typed-NEW-2"))
    assert resp.status_code == 302
    secret.refresh_from_db()
    assert secret.version == 2 and system_read(secret, "t") == "typed-NEW-2"
    resp = admin_client.post(f"/admin/keyvault/secret/{secret.pk}/change/", _form(description="meta only",
                                                                                 new_value=""))
    assert resp.status_code == 302
    secret.refresh_from_db()
    assert secret.version == 2 and secret.description == "meta only"

    listing = admin_client.get("/admin/keyvault/secret/").content.decode()
    assert "bmc-node1" in listing and "typed-NEW-2" not in listing and secret.ciphertext not in listing


def test_admin_create_requires_a_value(keys, admin_client):
    resp = admin_client.post("/admin/keyvault/secret/add/", _form(new_value=""))
    assert resp.status_code == 200 and "A value is required" in resp.content.decode()
    assert not Secret.objects.exists()


def test_admin_without_project_rights_cannot_place_secrets(keys, make_user, make_project, client):
    make_project("team-x")
    staff = make_user("staffer", "keyvault.add_secret", "keyvault.view_secret", staff=True)
    client.force_login(staff)
    resp = client.post("/admin/keyvault/secret/add/", _form())
    assert resp.status_code == 200 and "You may not put secrets in" in resp.content.decode()
    assert not Secret.objects.exists()


def test_token_admin_lists_prefixes_and_revokes(keys, make_secret, root, admin_client):
    make_secret("munge")
    row, token = onetime.issue_token(root, "secret", "munge")
    page = admin_client.get("/admin/keyvault/onetimetoken/").content.decode()
    assert row.token_prefix in page and token not in page and row.token_hash not in page
    detail = admin_client.get(f"/admin/keyvault/onetimetoken/{row.pk}/change/").content.decode()
    assert token not in detail and row.token_hash not in detail
    assert admin_client.get("/admin/keyvault/onetimetoken/add/").status_code == 403
    resp = admin_client.post("/admin/keyvault/onetimetoken/", {"action": "revoke_tokens",
                                                               "_selected_action": [str(row.pk)]})
    assert resp.status_code == 302
    assert OneTimeToken.objects.get().revoked is True
    with pytest.raises(onetime.RedeemRefused) as refused:
        onetime.redeem(token, time.time(), "127.0.0.1")
    assert refused.value.code == "unknown"


def test_logs_are_read_only_in_the_admin(keys, make_secret, root, admin_client):
    secret = make_secret()
    system_read(secret, "nightly")
    with pytest.raises(onetime.RedeemRefused):
        onetime.redeem("kv1.bad", time.time(), "127.0.0.1")
    for model in ["secretaccess", "tokenredemption"]:
        assert admin_client.get(f"/admin/keyvault/{model}/").status_code == 200
        assert admin_client.get(f"/admin/keyvault/{model}/add/").status_code == 403
    page = admin_client.get("/admin/keyvault/secretaccess/").content.decode()
    assert "nightly" in page and VALUE not in page
    assert "forged" in admin_client.get("/admin/keyvault/tokenredemption/").content.decode()
