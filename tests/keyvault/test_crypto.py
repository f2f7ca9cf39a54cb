"""Encryption at rest: raw rows hold no plaintext, rotation, checksum tamper, fail-closed start."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from apps.core.models import AuditEvent
from apps.keyvault import crypto, services
from apps.keyvault.models import Secret

from .conftest import VALUE, system_read

ROOT = Path(__file__).resolve().parents[2]


def raw_row(secret_id) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM keyvault_secret WHERE id = %s", [secret_id])
        columns = [c[0] for c in cursor.description]
        return dict(zip(columns, cursor.fetchone()))


@pytest.mark.django_db
def test_raw_row_holds_no_plaintext(keys, make_secret):
    secret = make_secret(value=VALUE)
    row = raw_row(secret.pk)
    blob = " ".join(str(v) for v in row.values())
    assert VALUE not in blob and "s3cr3t" not in blob
    assert row["ciphertext"].startswith("gAAAA")  # a Fernet token
    assert Fernet(keys[0].encode()).decrypt(row["ciphertext"].encode()).decode() == VALUE
    assert len(row["checksum"]) == 64
    assert system_read(secret, "test") == VALUE


@pytest.mark.django_db
def test_same_value_twice_gives_different_ciphertexts(keys, make_secret):
    a, b = make_secret("a", value="same"), make_secret("b", value="same")
    assert raw_row(a.pk)["ciphertext"] != raw_row(b.pk)["ciphertext"]


@pytest.mark.django_db
def test_rotation_re_encrypts_with_the_first_key(settings, keys, make_secret, capsys):
    key_a, key_b = keys
    secrets = [make_secret(f"s{i}", value=f"{VALUE}-{i}") for i in range(3)]
    settings.ENCRYPTION_KEYS = [key_b, key_a]  # new key first, old key still readable
    assert system_read(Secret.objects.get(pk=secrets[0].pk), "before rotation") == f"{VALUE}-0"
    call_command("rotate_encryption_key")
    out = capsys.readouterr().out
    assert "3 total, re-encrypted 3, 3 were under an older key, 0 failed" in out
    audit = AuditEvent.objects.get(action="keyvault.rotate_encryption_key")
    assert audit.changes["after"]["rotated"] == 3 and audit.changes["after"]["keys_configured"] == 2
    assert VALUE not in str(audit.changes)

    settings.ENCRYPTION_KEYS = [key_b]  # old key removed
    for i, secret in enumerate(secrets):
        fresh = Secret.objects.get(pk=secret.pk)
        assert fresh.version == 1  # the value did not change
        assert system_read(fresh, "after rotation") == f"{VALUE}-{i}"
        assert Fernet(key_b.encode()).decrypt(raw_row(secret.pk)["ciphertext"].encode()).decode() == f"{VALUE}-{i}"
    call_command("rotate_encryption_key", "--dry-run")
    assert "0 were under an older key" in capsys.readouterr().out


@pytest.mark.django_db
def test_without_rotation_removing_the_old_key_fails_closed(settings, keys, make_secret):
    secret = make_secret()
    settings.ENCRYPTION_KEYS = [keys[1]]
    with pytest.raises(services.SecretIntegrityError, match="cannot be decrypted with any key"):
        system_read(Secret.objects.get(pk=secret.pk), "x")
    with pytest.raises(CommandError, match="1 secret\\(s\\) could not be decrypted.*db-password"):
        call_command("rotate_encryption_key")


@pytest.mark.django_db
def test_checksum_tamper_is_detected(keys, make_secret, make_user, api):
    secret = make_secret()
    Secret.objects.filter(pk=secret.pk).update(checksum="0" * 64)
    tampered = Secret.objects.get(pk=secret.pk)
    with pytest.raises(services.SecretIntegrityError, match="does not match its stored checksum"):
        system_read(tampered, "x")
    resp = api(make_user("boss", superuser=True)).post(f"/api/v1/secrets/{secret.pk}/reveal/")
    assert resp.status_code == 500 and "integrity check" in resp.json()["detail"]
    assert VALUE not in resp.content.decode()


@pytest.mark.django_db
def test_swapped_ciphertext_is_detected(keys, make_secret):
    """Copying another row's (valid) ciphertext in is caught by the checksum."""
    a, b = make_secret("a", value="value-a"), make_secret("b", value="value-b")
    Secret.objects.filter(pk=a.pk).update(ciphertext=raw_row(b.pk)["ciphertext"])
    with pytest.raises(services.SecretIntegrityError):
        system_read(Secret.objects.get(pk=a.pk), "x")


def test_crypto_follows_the_setting_not_a_cached_key(settings):
    one, two = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [one]
    token = crypto.encrypt("x")
    settings.ENCRYPTION_KEYS = [two]
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt(token)
    settings.ENCRYPTION_KEYS = [two, one]
    assert crypto.decrypt(token) == "x"


@pytest.mark.parametrize("keys, message", [
    ([], "has no encryption key"),
    (["not-a-key"], "entry 1 of 1 is not a valid Fernet key"),
    ([Fernet.generate_key().decode(), "short"], "entry 2 of 2"),
])
def test_check_keys_refuses_bad_configuration(keys, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        crypto.check_keys(keys)


@pytest.mark.parametrize("env, message", [
    ({"AIMATRIX_ENCRYPTION_KEYS": "bm90LWEta2V5"}, "entry 1 of 1 is not a valid Fernet key"),
    ({"AIMATRIX_REQUIRE_ENV_SECRETS": "1", "AIMATRIX_SECRET_KEY": "x" * 50}, "has no encryption key"),
])
def test_processes_refuse_to_start_without_a_valid_key(tmp_path, env, message):
    """Every process fails closed: the check is in AppConfig.ready(), so `check`, `migrate`,
    workers and daphne all stop before doing anything."""
    child = {k: v for k, v in os.environ.items() if k != "AIMATRIX_ENCRYPTION_KEYS"}
    child.update(env, AIMATRIX_VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=child, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
    assert "bm90LWEta2V5" not in result.stderr  # the bad key itself is never printed
