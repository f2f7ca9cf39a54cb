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
    call_command("gen_prod_env", "--output", str(out), "--hosts", "matrix.example.org", "--tls")
    values = dict(line.split("=", 1) for line in out.read_text().splitlines() if line and not line.startswith("#"))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert len(values["AIMATRIX_SECRET_KEY"]) >= 50
    assert values["POSTGRES_PASSWORD"] in values["DATABASE_URL"]
    assert values["AIMATRIX_ALLOWED_HOSTS"] == "matrix.example.org"
    from cryptography.fernet import Fernet
    Fernet(values["AIMATRIX_ENCRYPTION_KEYS"].encode())  # a valid key
    with pytest.raises(CommandError, match="refusing to overwrite"):
        call_command("gen_prod_env", "--output", str(out))
    call_command("gen_prod_env", "--output", str(out), "--force", "--tls")
    again = dict(line.split("=", 1) for line in out.read_text().splitlines() if line and not line.startswith("#"))
    assert again["AIMATRIX_SECRET_KEY"] != values["AIMATRIX_SECRET_KEY"]


def _env_values(path):
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def test_gen_prod_env_cookie_and_origin_settings_follow_tls(tmp_path):
    plain, tls = tmp_path / "plain", tmp_path / "tls"
    call_command("gen_prod_env", "--output", str(plain), "--hosts", "a.example.org,b.example.org", "--no-tls")
    call_command("gen_prod_env", "--output", str(tls), "--hosts", "a.example.org", "--tls")
    plain_values, tls_values = _env_values(plain), _env_values(tls)
    assert plain_values["AIMATRIX_SECURE_COOKIES"] == "false"
    assert plain_values["AIMATRIX_CSRF_TRUSTED_ORIGINS"] == "http://a.example.org,http://b.example.org"
    assert tls_values["AIMATRIX_SECURE_COOKIES"] == "true"
    assert tls_values["AIMATRIX_CSRF_TRUSTED_ORIGINS"] == "https://a.example.org"
    port = tmp_path / "port"
    call_command("gen_prod_env", "--output", str(port), "--hosts", "a.example.org", "--no-tls", "--http-port", "8080")
    assert _env_values(port)["AIMATRIX_CSRF_TRUSTED_ORIGINS"] == "http://a.example.org:8080"


def test_gen_prod_env_asks_about_tls_and_refuses_to_guess(tmp_path, monkeypatch):
    out = tmp_path / "env.prod"
    with pytest.raises(CommandError, match="--tls or --no-tls"):
        call_command("gen_prod_env", "--output", str(out))  # no terminal to ask on
    assert not out.exists()
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    answers = iter(["maybe", "n"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    call_command("gen_prod_env", "--output", str(out))
    assert _env_values(out)["AIMATRIX_SECURE_COOKIES"] == "false"
