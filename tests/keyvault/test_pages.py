"""Key vault pages: login, visibility through restrict(), values and token strings never rendered
(except the one explicit reveal / issue response, marked no-store), actions through the services."""
import hashlib
import re
import time

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.core.models import AuditEvent
from apps.keyvault import onetime
from apps.keyvault.models import AccessKind, OneTimeToken, SecretAccess

from .conftest import VALUE, field_error, system_read

pytestmark = pytest.mark.django_db


def in_group(user, name):
    user.groups.add(Group.objects.get(name=name))
    return type(user).objects.get(pk=user.pk)  # fresh: no cached permissions


@pytest.fixture
def team(keys, make_user, make_project, make_secret):
    """alice (project owner, view/add tokens) sees team-a's secret, not team-b's."""
    alice = make_user("alice", "keyvault.view_secret", "keyvault.add_onetimetoken")
    a, b = make_project("team-a", (alice, "owner")), make_project("team-b")
    return alice, make_secret("a-db", project=a, kind="password"), make_secret("b-db", project=b)


def may_reveal(user):
    """Tokens hand values out, so issuing one needs reveal access (project owner + permission)."""
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(codename="reveal_secret"))
    return type(user).objects.get(pk=user.pk)


def assert_no_value(html, *secrets):
    assert VALUE not in html and VALUE.split("\n")[0] not in html
    for secret in secrets:
        assert secret.ciphertext not in html and secret.checksum not in html


def test_pages_need_login(client):
    for url in ["/keyvault/", "/keyvault/1/", "/keyvault/new/", "/keyvault/1/edit/", "/keyvault/1/delete/",
                "/keyvault/tokens/", "/keyvault/tokens/new/", "/keyvault/access-log/"]:
        resp = client.get(url)
        assert resp.status_code == 302 and resp["Location"].startswith("/accounts/login/"), url
    for url in ["/keyvault/1/reveal/", f"/keyvault/tokens/{'0' * 8}-0000-0000-0000-{'0' * 12}/revoke/",
                "/keyvault/tokens/new/", "/keyvault/new/", "/keyvault/1/edit/", "/keyvault/1/delete/"]:
        resp = client.post(url, {"reason": "x"})
        assert resp.status_code == 302 and resp["Location"].startswith("/accounts/login/"), url


def test_list_shows_visible_secrets_filters_and_never_values(team, client):
    alice, mine, theirs = team
    client.force_login(alice)
    html = client.get("/keyvault/").content.decode()
    assert f'href="/keyvault/{mine.pk}/"' in html and f'href="/keyvault/{theirs.pk}/"' not in html
    assert ">team-a<" in html and "team-b" not in html  # project filter offers visible projects only
    assert 'href="/keyvault/"' in html  # nav link
    assert_no_value(html, mine, theirs)
    assert "a-db" in client.get("/keyvault/?name=A-D").content.decode()
    assert "a-db" not in client.get("/keyvault/?name=zzz").content.decode()
    assert "a-db" in client.get("/keyvault/?kind=password&project=team-a").content.decode()
    assert "a-db" not in client.get("/keyvault/?kind=munge_key").content.decode()
    assert client.get(f"/keyvault/{theirs.pk}/").status_code == 404
    assert client.post(f"/keyvault/{theirs.pk}/reveal/", {"reason": "x"}).status_code == 404


def test_no_nav_link_without_view_permission(client, make_user):
    client.force_login(make_user("plain"))
    assert 'href="/keyvault/"' not in client.get("/").content.decode()
    assert "No secrets you may see" in client.get("/keyvault/").content.decode()


def test_list_query_count_does_not_grow_with_rows(keys, make_secret, make_project, root, client):
    project = make_project("team-q")
    client.force_login(root)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/keyvault/").status_code == 200
        return len(ctx)
    make_secret("q0", project=project)
    few = count()
    for i in range(1, 6):
        make_secret(f"q{i}", project=project)
    assert count() == few


def test_detail_shows_metadata_and_access_log_newest_first(team, client):
    alice, mine, _ = team
    system_read(mine, "first read", actor="task nodes.check_ssh job 1")
    system_read(mine, "second read", actor=alice)
    client.force_login(alice)
    html = client.get(f"/keyvault/{mine.pk}/").content.decode()
    assert "a-db" in html and "team-a" in html and "v1" in html and mine.checksum_prefix in html
    assert html.index("second read") < html.index("first read")
    assert "task nodes.check_ssh job 1" in html
    assert_no_value(html, mine)
    # alice has no reveal permission: no form, and a POST is refused with a message.
    assert 'id="reveal-form"' not in html
    resp = client.post(f"/keyvault/{mine.pk}/reveal/", {"reason": "curious"}, follow=True)
    assert "may not reveal" in resp.content.decode()
    assert_no_value(resp.content.decode(), mine)
    assert not SecretAccess.objects.filter(kind=AccessKind.REVEAL).exists()


def test_reveal_shows_the_value_once_uncached_and_logs_it(keys, make_user, make_secret, client):
    secret = make_secret("munge")
    admin = in_group(make_user("ops"), "admin")
    client.force_login(admin)
    assert 'id="reveal-form"' in client.get(f"/keyvault/{secret.pk}/").content.decode()
    assert client.post(f"/keyvault/{secret.pk}/reveal/", {"reason": ""}).status_code == 302  # reason required
    resp = client.post(f"/keyvault/{secret.pk}/reveal/", {"reason": "rebuild node7"})
    html = resp.content.decode()
    assert resp.status_code == 200 and "no-store" in resp["Cache-Control"]
    assert html.count(VALUE) == 1
    access = SecretAccess.objects.get(kind=AccessKind.REVEAL)
    assert access.actor == admin and access.purpose == "rebuild node7"
    assert AuditEvent.objects.filter(action="keyvault.secret.reveal", actor=admin).exists()
    page = client.get(f"/keyvault/{secret.pk}/").content.decode()
    assert "rebuild node7" in page
    assert_no_value(page, secret)


def test_issue_token_through_the_page_shows_it_once_and_stores_only_the_hash(team, client):
    alice, mine, _ = team
    alice = may_reveal(alice)
    client.force_login(alice)
    assert 'href="/keyvault/tokens/new/"' in client.get("/keyvault/tokens/").content.decode()
    form = client.get(f"/keyvault/tokens/new/?purpose=secret&subject={mine.name}").content.decode()
    assert 'name="subject"' in form and 'value="a-db"' in form
    resp = client.post("/keyvault/tokens/new/", {"purpose": "secret", "subject": "a-db",
                                                 "ttl": "120", "bind_ip": "127.0.0.1"})
    assert resp.status_code == 200 and "no-store" in resp["Cache-Control"]
    html = resp.content.decode()
    row = OneTimeToken.objects.get()
    token = re.search(r'<pre id="token-value"[^>]*>(.*?)</pre>', html, re.S).group(1)
    assert token.startswith("kv1.") and html.count(token) == 1
    assert 'data-copy-target="#token-value"' in html and "will not be shown again" in html
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token.startswith(row.token_prefix)
    assert row.created_by == alice and row.bind_ip == "127.0.0.1" and row.subject == "a-db"
    assert_no_value(html, mine)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM keyvault_onetimetoken WHERE id = %s", [row.pk])
        assert token not in " ".join(str(v) for v in cursor.fetchone())
    assert AuditEvent.objects.filter(action="keyvault.token.issue", actor=alice).exists()

    listing = client.get("/keyvault/tokens/").content.decode()
    assert row.token_prefix in listing and token not in listing and row.token_hash not in listing
    assert 'data-status="active"' in listing and f"/keyvault/tokens/{row.pk}/revoke/" in listing
    assert_no_value(listing, mine)

    # The page-issued token is a real one: redeemable once.
    redeem = {"token": token, "timestamp": time.time()}
    assert APIClient().post("/api/v1/keyvault/redeem/", redeem, format="json").json()["value"] == VALUE
    listing = client.get("/keyvault/tokens/").content.decode()
    assert 'data-status="consumed"' in listing and "/revoke/" not in listing and VALUE not in listing


def test_issue_errors_are_shown_next_to_the_field(team, make_user, client):
    alice, mine, theirs = team
    client.force_login(alice)
    resp = client.post("/keyvault/tokens/new/", {"purpose": "secret", "subject": theirs.name, "ttl": "60"})
    assert resp.status_code == 400 and field_error(resp, "subject").startswith("No secret named")
    resp = client.post("/keyvault/tokens/new/", {"purpose": "secret", "subject": "a-db", "ttl": "999999"})
    assert resp.status_code == 400 and field_error(resp, "ttl").startswith("At most")
    # alice sees a-db but may not reveal it: refused on the form, not as a bare error page.
    resp = client.post("/keyvault/tokens/new/", {"purpose": "secret", "subject": mine.name, "ttl": "60"})
    assert resp.status_code == 403 and "may not hand out" in resp.content.decode()
    assert not OneTimeToken.objects.exists()
    # Without keyvault.add_onetimetoken there is no button, no form, and the POST issues nothing.
    client.force_login(in_group(make_user("eng"), "engineer"))
    assert 'href="/keyvault/tokens/new/"' not in client.get("/keyvault/tokens/").content.decode()
    assert client.get("/keyvault/tokens/new/").status_code == 403
    resp = client.post("/keyvault/tokens/new/", {"purpose": "secret", "subject": "a-db", "ttl": "60"})
    assert resp.status_code == 403 and not OneTimeToken.objects.exists()


def test_revoke_through_the_page(team, make_user, client):
    alice, mine, _ = team
    alice = may_reveal(alice)
    row, token = onetime.issue_token(alice, "secret", mine.name)
    other = make_user("mallory", "keyvault.view_secret", "keyvault.add_onetimetoken")
    client.force_login(other)
    assert row.token_prefix not in client.get("/keyvault/tokens/").content.decode()
    assert client.get(f"/keyvault/tokens/{row.pk}/revoke/").status_code == 404
    assert client.post(f"/keyvault/tokens/{row.pk}/revoke/", {"confirm": "yes"}).status_code == 404
    client.force_login(alice)
    # The link asks first and says what happens; a POST without the confirmation only asks again.
    listing = client.get("/keyvault/tokens/").content.decode()
    assert f'href="/keyvault/tokens/{row.pk}/revoke/"' in listing
    for resp in (client.get(f"/keyvault/tokens/{row.pk}/revoke/"), client.post(f"/keyvault/tokens/{row.pk}/revoke/")):
        html = resp.content.decode()
        assert resp.status_code == 200 and "Nobody will be able to redeem this token" in html
        assert 'name="confirm" value="yes"' in html and row.token_prefix in html
    row.refresh_from_db()
    assert not row.revoked and not AuditEvent.objects.filter(action="keyvault.token.revoke").exists()
    resp = client.post(f"/keyvault/tokens/{row.pk}/revoke/", {"confirm": "yes"}, follow=True)
    html = resp.content.decode()
    assert "revoked" in html and 'data-status="revoked"' in html and token not in html
    row.refresh_from_db()
    assert row.revoked and row.revoked_by == alice
    assert AuditEvent.objects.filter(action="keyvault.token.revoke", actor=alice).exists()
    assert AuditEvent.objects.filter(action="keyvault.token.revoke").count() == 1
    resp = client.post(f"/keyvault/tokens/{row.pk}/revoke/", {"confirm": "yes"}, follow=True)
    assert "already revoked" in resp.content.decode()


def test_token_list_query_count_does_not_grow_with_rows(team, client):
    alice, mine, _ = team
    alice = may_reveal(alice)
    client.force_login(alice)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/keyvault/tokens/").status_code == 200
        return len(ctx)
    onetime.issue_token(alice, "secret", mine.name)
    few = count()
    for _ in range(5):
        onetime.issue_token(alice, "secret", mine.name)
    assert count() == few


def test_access_log_page_needs_permission_and_filters(team, make_user, client):
    alice, mine, theirs = team
    system_read(mine, "deploy a", actor="task one")
    system_read(theirs, "deploy b", actor=alice)
    client.force_login(alice)
    assert client.get("/keyvault/access-log/").status_code == 403
    sre = in_group(make_user("sre1"), "sre")
    client.force_login(sre)
    html = client.get("/keyvault/access-log/").content.decode()
    assert "deploy a" in html and "deploy b" in html
    assert_no_value(html, mine, theirs)
    html = client.get("/keyvault/access-log/?secret=b-db").content.decode()
    assert "deploy b" in html and "deploy a" not in html
    html = client.get("/keyvault/access-log/?actor=alice").content.decode()
    assert "deploy b" in html and "deploy a" not in html
    assert "deploy a" not in client.get("/keyvault/access-log/?since=2999-01-01T00:00").content.decode()
    assert "deploy a" in client.get("/keyvault/access-log/?until=2999-01-01T00:00").content.decode()

