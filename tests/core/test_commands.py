"""Management commands: the admin with a random password, and the production env file."""
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from apps.core.models import AuditEvent


@pytest.mark.django_db
def test_ensure_admin_creates_once_with_random_password(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    call_command("ensure_admin")
    out = capsys.readouterr().out
    creds = (tmp_path / "admin-credentials").read_text()
    password = creds.split("password=")[1].strip()
    assert len(password) >= 20 and password in out
    assert stat.S_IMODE((tmp_path / "admin-credentials").stat().st_mode) == 0o600
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    assert AuditEvent.objects.filter(action="user.create_admin").count() == 1
    call_command("ensure_admin")  # second run: nothing changes
    assert (tmp_path / "admin-credentials").read_text() == creds
    assert "exists" in capsys.readouterr().out
    call_command("ensure_admin", "--reset")
    new_password = (tmp_path / "admin-credentials").read_text().split("password=")[1].strip()
    assert new_password != password
    admin.refresh_from_db()
    assert admin.check_password(new_password)


def test_gen_prod_env_writes_strong_secrets_and_refuses_overwrite(tmp_path):
    out = tmp_path / "env.prod"
    call_command("gen_prod_env", "--output", str(out), "--hosts", "matrix.example.org")
    values = dict(line.split("=", 1) for line in out.read_text().splitlines() if line and not line.startswith("#"))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert len(values["AIMATRIX_SECRET_KEY"]) >= 50
    assert values["POSTGRES_PASSWORD"] in values["DATABASE_URL"]
    assert values["AIMATRIX_ALLOWED_HOSTS"] == "matrix.example.org"
    from cryptography.fernet import Fernet
    Fernet(values["AIMATRIX_ENCRYPTION_KEYS"].encode())  # a valid key
    with pytest.raises(CommandError, match="refusing to overwrite"):
        call_command("gen_prod_env", "--output", str(out))
    call_command("gen_prod_env", "--output", str(out), "--force")
    again = dict(line.split("=", 1) for line in out.read_text().splitlines() if line and not line.startswith("#"))
    assert again["AIMATRIX_SECRET_KEY"] != values["AIMATRIX_SECRET_KEY"]
