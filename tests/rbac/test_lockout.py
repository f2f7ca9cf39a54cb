"""Login lockout (django-axes) through the real login page, and the audit of logins."""
from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client, override_settings

from apps.core.models import AuditEvent

pytestmark = pytest.mark.django_db

LOGIN_URL = "/accounts/login/"
PASSWORD = "pw-Correct-Horse-1"  # tests/conftest.py make_user default


def post_login(client, username, password):
    return client.post(LOGIN_URL, {"username": username, "password": password})


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_successful_login_is_audited(make_user):
    user = make_user("erin")
    client = Client()
    response = post_login(client, "erin", PASSWORD)
    assert response.status_code == 302 and logged_in(client)
    event = AuditEvent.objects.get(action="auth.login")
    assert event.actor == user
    assert event.changes["after"]["username"] == "erin"
    assert event.ip == "127.0.0.1"


def test_failed_login_is_audited_without_the_password(make_user):
    make_user("erin")
    response = post_login(Client(), "erin", "wrong-Guess-42")
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.changes["after"] == {"username": "erin", "ip": "127.0.0.1"}
    assert "wrong-Guess-42" not in json.dumps(event.changes)


def test_lockout_after_failure_limit_refuses_even_the_right_password(make_user):
    make_user("dora")
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5
    client = Client()
    guesses = [f"guess-{n}-Wrong" for n in range(limit)]
    statuses = [post_login(client, "dora", guess).status_code for guess in guesses]
    # The first failures re-show the form; the one reaching the limit is already locked out.
    assert statuses[:limit - 1] == [200] * (limit - 1)
    assert statuses[-1] == 429

    response = post_login(client, "dora", PASSWORD)
    assert response.status_code == 429  # a clear refusal, not a 500 and not a login
    assert b"Too many failed logins" in response.content, response.content.decode()[-1500:]
    assert not logged_in(client)
    # A fresh client (no cookies) from the same address is refused too.
    fresh = Client()
    assert post_login(fresh, "dora", PASSWORD).status_code == 429 and not logged_in(fresh)

    lockouts = AuditEvent.objects.filter(action="auth.lockout")
    assert lockouts.count() >= 1
    after = lockouts.first().changes["after"]
    assert after == {"username": "dora", "ip": "127.0.0.1"}
    failed = AuditEvent.objects.filter(action="auth.login_failed", changes__after__username="dora")
    assert failed.count() >= limit
    assert failed.filter(changes__after__reason="locked out").exists()
    everything = json.dumps(list(AuditEvent.objects.values_list("changes", flat=True)))
    assert PASSWORD not in everything and not any(g in everything for g in guesses)


def test_lockout_is_per_user_and_address(make_user):
    make_user("dora")
    make_user("erin")
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        post_login(client, "dora", f"guess-{n}-Wrong")
    other = Client()
    response = post_login(other, "erin", PASSWORD)
    assert response.status_code == 302 and logged_in(other)


def test_lockout_page_is_the_login_page_with_an_explanation(make_user):
    """With AXES_LOCKOUT_CALLABLE = "apps.rbac.forms.lockout_response" (see the LDAP/lockout
    report) the refusal is the styled login page, still 429."""
    make_user("dora")
    client = Client()
    with override_settings(AXES_LOCKOUT_CALLABLE="apps.rbac.forms.lockout_response"):
        for n in range(settings.AXES_FAILURE_LIMIT):
            post_login(client, "dora", f"guess-{n}-Wrong")
        response = post_login(client, "dora", PASSWORD)
        assert response.status_code == 429 and not logged_in(client)
        assert b"Too many failed logins" in response.content
        assert b"try again in 15 minutes" in response.content
        assert b'name="username"' in response.content  # the form, ready for a later try
        api = client.post(LOGIN_URL, {"username": "dora", "password": PASSWORD},
                          HTTP_ACCEPT="application/json")
        assert api.status_code == 429 and "Too many failed logins" in api.json()["detail"]
