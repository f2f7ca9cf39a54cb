"""Secrets API: write-only values, versions, reveal, access log, validation, audit without values."""
import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.models import AuditEvent
from apps.keyvault import services
from apps.keyvault.models import Secret, SecretAccess

from .conftest import VALUE, system_read

pytestmark = pytest.mark.django_db

NEW_VALUE = "n3w-Secret-\u00fc-Xy7"


def test_crud_never_returns_the_value_and_nothing_logs_it(keys, root, api, caplog, make_project):
    """Every response of create/list/detail/update/access-log and every log line (all loggers at
    DEBUG, SQL included) is free of the value."""
    make_project("team-a")
    client = api(root)
    bodies = []
    for name in ["", *logging.root.manager.loggerDict]:  # every logger, not only the root
        caplog.set_level(logging.DEBUG, logger=name)
    connection.force_debug_cursor = True  # SQL statements and their parameters go to the log too
    try:
        resp = client.post("/api/v1/secrets/", {"name": "db-password", "kind": "password", "value": VALUE,
                                                "project": "team-a", "description": "main DB"}, format="json")
        assert resp.status_code == 201, resp.content
        bodies.append(resp.content)
        created = resp.json()
        assert created["version"] == 1 and created["project"] == "team-a" and "value" not in created
        assert len(created["checksum_prefix"]) == 8 and "checksum" not in created and "ciphertext" not in created
        pk = created["id"]
        for url in ["/api/v1/secrets/", f"/api/v1/secrets/{pk}/", "/api/v1/secrets/?search=db",
                    f"/api/v1/secrets/{pk}/access-log/", "/api/v1/keyvault/access-log/", "/api/v1/audit/"]:
            resp = client.get(url)
            assert resp.status_code == 200, url
            bodies.append(resp.content)
        resp = client.patch(f"/api/v1/secrets/{pk}/", {"value": NEW_VALUE}, format="json")
        assert resp.status_code == 200 and resp.json()["version"] == 2
        assert resp.json()["checksum_prefix"] != created["checksum_prefix"]
        bodies.append(resp.content)
        resp = client.put(f"/api/v1/secrets/{pk}/", {"name": "db-password", "kind": "password",
                                                     "description": "renamed"}, format="json")
        assert resp.status_code == 200 and resp.json()["version"] == 2  # metadata only: same version
        bodies.append(resp.content)
        use = system_read(Secret.objects.get(pk=pk), "test: system read")
        assert use == NEW_VALUE
    finally:
        connection.force_debug_cursor = False
    logged = "\n".join(r.getMessage() + str(r.args) for r in caplog.records)
    assert "INSERT INTO" in logged  # the SQL log was really captured
    for secret_value in (VALUE, NEW_VALUE):
        assert all(secret_value.encode() not in body for body in bodies)
        assert secret_value not in logged
    audit = list(AuditEvent.objects.filter(action__startswith="keyvault.").values_list("changes", flat=True))
    assert len(audit) == 3 and VALUE not in str(audit) and NEW_VALUE not in str(audit)
    update = AuditEvent.objects.filter(action="keyvault.secret.update").order_by("id").first()
    assert update.changes["before"]["version"] == 1 and update.changes["after"]["value_changed"] is True


def test_value_is_required_on_create_and_kept_exact(keys, root, api):
    client = api(root)
    resp = client.post("/api/v1/secrets/", {"name": "k", "kind": "ssh_private_key"}, format="json")
    assert resp.status_code == 400 and "value" in resp.json()
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
    resp = client.post("/api/v1/secrets/", {"name": "k", "kind": "ssh_private_key", "value": pem}, format="json")
    assert resp.status_code == 201
    assert system_read(Secret.objects.get(name="k"), "t") == pem  # trailing newline kept


@pytest.mark.parametrize("body, field", [
    ({"name": "bad name!", "value": "x"}, "name"),
    ({"name": "-leading", "value": "x"}, "name"),
    ({"name": "ok", "value": "x", "kind": "nope"}, "kind"),
    ({"name": "ok", "value": ""}, "value"),
    ({"name": "ok", "value": "x", "project": "no-such-project"}, "project"),
])
def test_bad_input_is_a_400_naming_the_field(keys, root, api, body, field):
    resp = api(root).post("/api/v1/secrets/", body, format="json")
    assert resp.status_code == 400 and field in resp.json(), resp.content


def test_duplicate_name_is_a_400(keys, root, api, make_secret):
    make_secret("dup")
    resp = api(root).post("/api/v1/secrets/", {"name": "dup", "value": "x"}, format="json")
    assert resp.status_code == 400 and "name" in resp.json()


def test_reveal_returns_the_value_once_asked_and_is_audited(keys, make_secret, make_user, api):
    secret = make_secret()
    admin = make_user("ops", "keyvault.view_secret", "keyvault.reveal_secret", "rbac.unrestricted")
    resp = api(admin).post(f"/api/v1/secrets/{secret.pk}/reveal/", {"reason": "rebuild node"}, format="json")
    assert resp.status_code == 200
    assert resp.json()["value"] == VALUE and resp.json()["version"] == 1
    assert "no-store" in resp["Cache-Control"]
    audit = AuditEvent.objects.get(action="keyvault.secret.reveal")
    assert audit.actor == admin and audit.changes["after"]["reason"] == "rebuild node"
    access = SecretAccess.objects.get(kind="reveal")
    assert access.actor == admin and access.purpose == "rebuild node" and access.secret_name == secret.name
    assert access.ip == "127.0.0.1"
    log = api(admin).get(f"/api/v1/secrets/{secret.pk}/access-log/").json()["results"]
    assert [e["kind"] for e in log] == ["reveal"] and "value" not in log[0]


def test_use_secret_logs_who_and_why(keys, make_secret):
    secret = make_secret()
    assert system_read(secret, "ssh to node1", actor="task nodes.check_ssh job 7") == VALUE
    access = SecretAccess.objects.get()
    assert (access.kind, access.actor_repr, access.purpose, access.version) == (
        "use", "task nodes.check_ssh job 7", "ssh to node1 -> 10.1.2.3", 1)
    with pytest.raises(services.InvalidInput):
        system_read(secret, "")
    with pytest.raises(ValueError, match="destination"):  # a system read always says where it goes
        services.use_secret(secret, "no destination")


def test_expired_secret_refuses_use_and_reveal(keys, make_secret, root, api):
    from datetime import timedelta

    from django.utils import timezone

    secret = make_secret(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(services.SecretUnavailable, match="expired"):
        system_read(secret, "x")
    resp = api(root).post(f"/api/v1/secrets/{secret.pk}/reveal/")
    assert resp.status_code == 409 and "expired" in resp.json()["detail"]
    assert resp.json() and VALUE not in resp.content.decode()
    assert not SecretAccess.objects.exists()
    assert api(root).get("/api/v1/secrets/?expired=true").json()["count"] == 1


def test_delete_is_audited_and_keeps_the_access_log(keys, make_secret, root, api):
    secret = make_secret()
    system_read(secret, "x")
    assert api(root).delete(f"/api/v1/secrets/{secret.pk}/").status_code == 204
    assert not Secret.objects.exists()
    assert AuditEvent.objects.get(action="keyvault.secret.delete").changes["before"]["name"] == "db-password"
    assert SecretAccess.objects.get().secret_name == "db-password"


def test_list_query_count_is_constant(keys, make_secret, root, api, make_project):
    project = make_project("team-a")
    for i in range(3):
        make_secret(f"s{i}", project=project)
    client = api(root)
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/secrets/")
    for i in range(3, 12):
        make_secret(f"s{i}", project=project)
    with CaptureQueriesContext(connection) as many:
        assert client.get("/api/v1/secrets/").json()["count"] == 12
    assert len(many) == len(few)
