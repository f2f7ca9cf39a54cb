"""Client addresses behind the shipped nginx (docker/nginx.conf, Debian's nginx) in front of the
production servers (gunicorn for plain HTTP, daphne for /ws/) that trust it: the audit log, IP-bound tokens and the login lockout see the real
client, whatever X-Forwarded-For / X-Real-IP the client writes itself. And the cookie settings
`gen_prod_env` writes let browsers log in the way they reach nginx (plain http or TLS in front)."""
import contextlib
import time

import pytest
from django.conf import settings
from django.core.management import call_command

from apps.core.models import AuditEvent
from apps.jobs import services as jobs
from apps.keyvault import services as vault

from .. import processes
from ..reverse_proxy import client_from, start_nginx
from ..wsclient import open_job_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]

ALICE, MALLORY = "127.0.0.2", "127.0.0.3"  # two clients, told apart only by their source address
LOGIN = "/accounts/login/"
PASSWORD = "pw-Correct-Horse-1"  # tests/conftest.py make_user default
SPOOF = {"X-Forwarded-For": ALICE, "X-Real-IP": ALICE}  # Mallory pretends to be Alice


@contextlib.contextmanager
def portal_behind_nginx(name: str, listen_port: int | None = None, **env):
    with contextlib.ExitStack() as stack:
        gunicorn, gunicorn_url = processes.start_gunicorn(f"{name}-gunicorn", AIMATRIX_WEB_ACCESS_LOG="-", **env)
        stack.callback(gunicorn.stop)
        daphne, daphne_url = processes.start_daphne(f"{name}-daphne", **env)
        stack.callback(daphne.stop)
        nginx, url = start_nginx(gunicorn_url, processes.LOG_DIR / name, listen_port, ws_url=daphne_url)
        stack.callback(nginx.stop)
        yield url


@pytest.fixture(scope="module")
def nginx_url(django_db_setup):
    with portal_behind_nginx("nginx-daphne", AIMATRIX_TRUSTED_PROXIES="127.0.0.1") as url:
        yield url


def login(session, base, username, password, headers=None):
    session.get(base + LOGIN, timeout=10).raise_for_status()
    data = {"username": username, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]}
    return session.post(base + LOGIN, data=data, headers=headers or {}, allow_redirects=False, timeout=10)


def test_plain_http_goes_to_gunicorn_and_websockets_to_daphne(nginx_url, make_user):
    user = make_user("ops", "jobs.run_diagnostics")
    job = jobs.start_job(user, "core.pulse", {"count": 1, "rate": 10})  # stays queued: no worker here
    assert client_from(ALICE).get(nginx_url + LOGIN, timeout=10).status_code == 200
    with open_job_socket(nginx_url, user, job.pk) as ws:  # the handshake only a websocket server completes
        assert ws.protocol.state.name == "OPEN"
    logs = {name: (processes.LOG_DIR / f"nginx-daphne-{name}.log").read_text() for name in ("gunicorn", "daphne")}
    assert f"GET {LOGIN}" in logs["gunicorn"] and LOGIN not in logs["daphne"]
    assert f"/ws/jobs/{job.pk}/" in logs["daphne"] and "/ws/" not in logs["gunicorn"]


def test_the_audit_log_records_the_client_not_the_proxy(nginx_url, make_user):
    make_user("erin")
    assert login(client_from(ALICE), nginx_url, "erin", PASSWORD).status_code == 302
    assert login(client_from(MALLORY), nginx_url, "erin", "wrong-Guess-42", headers=SPOOF).status_code == 200
    assert AuditEvent.objects.get(action="auth.login").ip == ALICE
    assert AuditEvent.objects.get(action="auth.login_failed").ip == MALLORY


def test_an_ip_bound_token_redeems_only_from_its_address(nginx_url, make_user, api):
    root = make_user("root", superuser=True)
    vault.create_secret(root, name="munge", value="munge-Value-9")
    resp = api(root).post("/api/v1/keyvault/tokens/", {"purpose": "secret", "subject": "munge", "bind_ip": ALICE},
                          format="json")
    assert resp.status_code == 201, resp.content
    body = {"token": resp.json()["token"]}

    def redeem(source, headers=None):
        return client_from(source).post(nginx_url + "/api/v1/keyvault/redeem/", json={**body, "timestamp": time.time()},
                                        headers=headers or {}, timeout=10)

    refused = redeem(MALLORY, SPOOF)
    assert refused.status_code == 403 and refused.json()["code"] == "wrong_ip", refused.text
    assert "munge-Value-9" not in refused.text
    delivered = redeem(ALICE)
    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["value"] == "munge-Value-9"


def test_bad_passwords_from_one_address_do_not_lock_the_user_out_elsewhere(nginx_url, make_user):
    make_user("dora")
    limit = settings.AXES_FAILURE_LIMIT
    mallory = client_from(MALLORY)
    # A new made-up X-Forwarded-For each time does not buy Mallory fresh attempts either.
    statuses = [login(mallory, nginx_url, "dora", f"guess-{n}-Wrong", {"X-Forwarded-For": f"198.51.100.{n}"}).status_code
                for n in range(limit)]
    assert statuses == [200] * (limit - 1) + [429], statuses
    assert login(mallory, nginx_url, "dora", PASSWORD, SPOOF).status_code == 429

    alice = client_from(ALICE)
    assert login(alice, nginx_url, "dora", PASSWORD).status_code == 302
    assert "sessionid" in alice.cookies


WEB_SETTINGS = ("AIMATRIX_ALLOWED_HOSTS", "AIMATRIX_CSRF_TRUSTED_ORIGINS", "AIMATRIX_SECURE_COOKIES")


def generated_web_settings(tmp_path, *flags) -> dict:
    out = tmp_path / "env.prod"
    call_command("gen_prod_env", "--output", str(out), "--hosts", "127.0.0.1", *flags)
    values = dict(line.split("=", 1) for line in out.read_text().splitlines() if line and not line.startswith("#"))
    return {key: values[key] for key in WEB_SETTINGS}


def test_gen_prod_env_without_tls_lets_browsers_log_in_over_plain_http(tmp_path, make_user):
    make_user("erin")
    port = processes.free_port()
    env = generated_web_settings(tmp_path, "--no-tls", "--http-port", str(port))
    with portal_behind_nginx("plain-http", port, AIMATRIX_TRUSTED_PROXIES="127.0.0.1", **env) as url:
        session = client_from(ALICE)
        assert login(session, url, "erin", PASSWORD).status_code == 302
        assert session.get(url + "/", allow_redirects=False, timeout=10).status_code == 200


def test_gen_prod_env_with_tls_needs_https_in_front(tmp_path, make_user):
    """Secure cookies: over plain http the browser never returns them (CSRF refuses the login);
    behind a TLS terminator (X-Forwarded-Proto: https, the cookies sent back) the login works."""
    make_user("erin")
    env = generated_web_settings(tmp_path, "--tls")
    with portal_behind_nginx("tls-in-front", AIMATRIX_TRUSTED_PROXIES="127.0.0.1", **env) as url:
        assert login(client_from(ALICE), url, "erin", PASSWORD).status_code == 403

        terminator = client_from(ALICE)
        https = {"X-Forwarded-Proto": "https"}
        page = terminator.get(url + LOGIN, headers=https, timeout=10)
        assert "secure" in page.headers["Set-Cookie"].lower()
        token = terminator.cookies["csrftoken"]
        response = terminator.post(
            url + LOGIN, allow_redirects=False, timeout=10,
            data={"username": "erin", "password": PASSWORD, "csrfmiddlewaretoken": token},
            headers={**https, "Cookie": f"csrftoken={token}", "Referer": url.replace("http:", "https:") + LOGIN})
        assert response.status_code == 302, response.text[-500:]
        assert "sessionid" in response.cookies
