"""Secret create / edit / delete pages and the kit lists (CSV, sorting, empty states): through the
same services as the API, errors next to the field, one audit entry per change, 403/404 by role,
and the value never in any page or export."""
import csv
import io

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.models import AuditEvent
from apps.keyvault import crypto, onetime
from apps.keyvault.models import Secret
from apps.keyvault.services import MAX_VALUE_LENGTH
from apps.nodes.models import Bmc, Node

from .conftest import VALUE, field_error, system_read

pytestmark = pytest.mark.django_db


def in_group(user, name):
    user.groups.add(Group.objects.get(name=name))
    return type(user).objects.get(pk=user.pk)


def plaintext(secret):
    secret.refresh_from_db()
    return crypto.decrypt_verified(secret.ciphertext, secret.checksum)


def assert_no_value(html, *secrets, value=VALUE):
    assert value not in html and value.split("\n")[0] not in html
    for secret in secrets:
        assert secret.ciphertext not in html and secret.checksum not in html


def audits(action):
    return AuditEvent.objects.filter(action=action).count()


@pytest.fixture
def sre(keys, make_user):
    return in_group(make_user("sre-page"), "sre")


def test_create_a_secret_with_destinations(sre, client, make_project, settings):
    project = make_project("team-c")
    client.force_login(sre)
    assert 'href="/keyvault/new/"' in client.get("/keyvault/").content.decode()
    form = client.get("/keyvault/new/").content.decode()
    assert 'name="value"' in form and 'name="destinations"' in form and ">team-c<" in form
    # The default destinations are said where they apply.
    assert ", ".join(settings.SECRET_DEFAULT_DESTINATIONS) in form
    resp = client.post("/keyvault/new/", {
        "name": "db-main", "kind": "password", "project": project.pk, "description": "primary DB",
        "expires_at": "2999-01-02T03:04", "destinations": "10.20.0.0/16\nBMC01.Example.org\n10.20.1.0/24",
        "value": VALUE})
    secret = Secret.objects.get(name="db-main")
    assert resp.status_code == 302 and resp["Location"] == f"/keyvault/{secret.pk}/"
    assert secret.destinations == ["10.20.0.0/16", "bmc01.example.org", "10.20.1.0/24"]
    assert (secret.kind, secret.project, secret.created_by, secret.version) == ("password", project, sre, 1)
    assert secret.expires_at.year == 2999 and plaintext(secret) == VALUE
    assert audits("keyvault.secret.create") == 1
    page = client.get(resp["Location"]).content.decode()
    assert "Saved secret db-main." in page and "bmc01.example.org" in page
    assert_no_value(page, secret)


def test_empty_destinations_on_create_mean_the_managed_networks(sre, client, settings):
    settings.SECRET_DEFAULT_DESTINATIONS = ["10.0.0.0/8", "192.168.0.0/16"]
    client.force_login(sre)
    client.post("/keyvault/new/", {"name": "dflt", "kind": "other", "value": "v", "destinations": ""})
    assert Secret.objects.get(name="dflt").destinations == ["10.0.0.0/8", "192.168.0.0/16"]


@pytest.mark.parametrize("data, field, message", [
    ({"destinations": "10.0.0.0/33"}, "destinations", "is neither a CIDR nor a host name"),
    ({"destinations": "bad_host!"}, "destinations", "is neither a CIDR nor a host name"),
    ({"value": "x" * (MAX_VALUE_LENGTH + 1)}, "value", f"At most {MAX_VALUE_LENGTH} characters."),
    ({"value": ""}, "value", "This field is required."),
    ({"kind": "bmc_credentials", "value": "no-colon-" + VALUE}, "value", "username:password"),
    ({"name": "bad name"}, "name", "Use 1-128 letters"),
    ({"expires_at": "tomorrow"}, "expires_at", "Enter a valid date/time."),
])
def test_create_errors_are_shown_next_to_the_field(sre, client, data, field, message):
    client.force_login(sre)
    posted = {"name": "err", "kind": "other", "value": VALUE, **data}
    resp = client.post("/keyvault/new/", posted)
    assert resp.status_code == 400, resp.content.decode()[:500]
    assert message in field_error(resp, field).replace("&#x27;", "'")
    html = resp.content.decode()
    assert_no_value(html, value=posted["value"][:200] or VALUE)  # the value is never echoed back
    assert not Secret.objects.exists() and not audits("keyvault.secret.create")


def test_the_name_must_be_unique(sre, client, make_secret):
    make_secret("taken")
    client.force_login(sre)
    resp = client.post("/keyvault/new/", {"name": "taken", "kind": "other", "value": "v"})
    assert resp.status_code == 400 and "already exists" in field_error(resp, "name")


def test_edit_keeps_the_value_when_left_empty(sre, client, make_secret):
    secret = make_secret("edit-me", destinations=["10.1.0.0/16"])
    client.force_login(sre)
    form = client.get(f"/keyvault/{secret.pk}/edit/")
    html = form.content.decode()
    assert form.status_code == 200 and "no-store" in form["Cache-Control"]
    assert "10.1.0.0/16</textarea>" in html and "Leave empty to keep the current value" in html
    assert_no_value(html, secret)
    resp = client.post(f"/keyvault/{secret.pk}/edit/", {
        "name": "edit-me", "kind": "other", "description": "now described",
        "destinations": "10.1.0.0/16\n*.bmc.example.org", "value": ""})
    assert resp.status_code == 302
    secret.refresh_from_db()
    assert secret.description == "now described" and secret.version == 1 and plaintext(secret) == VALUE
    assert secret.destinations == ["10.1.0.0/16", "*.bmc.example.org"]
    event = AuditEvent.objects.get(action="keyvault.secret.update")
    assert event.changes["after"]["value_changed"] is False and event.changes["before"]["description"] == ""

    client.post(f"/keyvault/{secret.pk}/edit/", {"name": "edit-me", "kind": "other", "value": "new-value-2",
                                                 "destinations": "10.1.0.0/16"})
    secret.refresh_from_db()
    assert secret.version == 2 and plaintext(secret) == "new-value-2"
    assert audits("keyvault.secret.update") == 2
    assert "new-value-2" not in client.get(f"/keyvault/{secret.pk}/edit/").content.decode()


def test_edit_errors_change_nothing(sre, client, make_secret):
    secret = make_secret("stay")
    client.force_login(sre)
    resp = client.post(f"/keyvault/{secret.pk}/edit/", {"name": "stay", "kind": "other",
                                                        "destinations": "300.1.1.1/8", "value": "other"})
    assert resp.status_code == 400 and "300.1.1.1/8" in field_error(resp, "destinations")
    assert "other</textarea>" not in resp.content.decode()
    secret.refresh_from_db()
    assert secret.version == 1 and plaintext(secret) == VALUE and not audits("keyvault.secret.update")


def test_who_may_add_edit_and_delete(keys, make_user, make_project, make_secret, client):
    owner = make_user("own", "keyvault.view_secret", "keyvault.add_secret", "keyvault.change_secret",
                      "keyvault.delete_secret")
    mine = make_project("mine", (owner, "owner"))
    make_project("theirs")
    in_mine, elsewhere = make_secret("in-mine", project=mine), make_secret("elsewhere")

    client.force_login(in_group(make_user("eng"), "engineer"))  # no key vault permission at all
    assert 'href="/keyvault/new/"' not in client.get("/keyvault/").content.decode()
    assert client.get("/keyvault/new/").status_code == 403
    assert client.post("/keyvault/new/", {"name": "x", "kind": "other", "value": "v"}).status_code == 403
    for url in (f"/keyvault/{in_mine.pk}/edit/", f"/keyvault/{in_mine.pk}/delete/"):
        assert client.get(url).status_code == 404

    # A project owner: adds to their project only (it is required), edits and deletes there.
    client.force_login(owner)
    form = client.get("/keyvault/new/").content.decode()
    assert ">mine<" in form and "theirs" not in form
    resp = client.post("/keyvault/new/", {"name": "nowhere", "kind": "other", "value": "v"})
    assert resp.status_code == 400 and field_error(resp, "project")
    resp = client.post("/keyvault/new/", {"name": "x", "kind": "other", "value": "v", "project": "999999"})
    assert resp.status_code == 400 and "valid choice" in field_error(resp, "project")
    assert client.get(f"/keyvault/{elsewhere.pk}/edit/").status_code == 404
    detail = client.get(f"/keyvault/{in_mine.pk}/").content.decode()
    assert f'href="/keyvault/{in_mine.pk}/edit/"' in detail and f'href="/keyvault/{in_mine.pk}/delete/"' in detail

    # sre changes every secret but deletes none: it sees the secret, so 403, not 404.
    client.force_login(in_group(make_user("sre2"), "sre"))
    detail = client.get(f"/keyvault/{in_mine.pk}/").content.decode()
    assert f'/keyvault/{in_mine.pk}/edit/' in detail and f'/keyvault/{in_mine.pk}/delete/' not in detail
    assert client.get(f"/keyvault/{in_mine.pk}/delete/").status_code == 403
    assert client.post(f"/keyvault/{in_mine.pk}/delete/", {"confirm": "yes"}).status_code == 403
    # A viewer of the secret without change permission: 403 on the edit page.
    viewer = make_user("viewer", "keyvault.view_secret")
    make_project("viewed", (viewer, "member"))
    in_mine.project = type(in_mine.project).objects.get(name="viewed")
    in_mine.save()
    client.force_login(viewer)
    assert client.get(f"/keyvault/{in_mine.pk}/edit/").status_code == 403
    assert Secret.objects.count() == 2 and not audits("keyvault.secret.delete")


def test_delete_confirms_first_then_deletes_once(keys, root, client, make_secret):
    secret = make_secret("gone-soon")
    client.force_login(root)
    page = client.get(f"/keyvault/{secret.pk}/delete/").content.decode()
    assert "Delete secret gone-soon?" in page and "Nothing uses it now." in page
    assert 'name="confirm" value="yes"' in page
    assert client.post(f"/keyvault/{secret.pk}/delete/").status_code == 200  # asks again
    assert Secret.objects.filter(pk=secret.pk).exists()
    resp = client.post(f"/keyvault/{secret.pk}/delete/", {"confirm": "yes"}, follow=True)
    assert resp.redirect_chain[-1][0] == "/keyvault/" and "Deleted gone-soon." in resp.content.decode()
    assert not Secret.objects.filter(pk=secret.pk).exists() and audits("keyvault.secret.delete") == 1


def test_delete_of_a_secret_in_use_names_the_users_and_refuses(keys, root, client, make_secret):
    secret = make_secret("in-use", kind="bmc_credentials", value="admin:pw")
    Node.objects.create(name="gpu-ssh-01", address="10.0.0.5", ssh_credential=secret)
    Bmc.objects.create(node=Node.objects.create(name="gpu-bmc-02", address="10.0.0.6"), driver="redfish",
                       address="https://10.0.1.6", credential=secret)
    client.force_login(root)
    page = client.get(f"/keyvault/{secret.pk}/delete/").content.decode()
    assert "cannot be deleted while it is in use" in page
    assert "Nodes using it as ssh credential: gpu-ssh-01" in page
    assert "BMCs using it as credential: gpu-bmc-02 redfish BMC" in page
    assert 'name="confirm" value="yes"' not in page  # nothing to confirm
    resp = client.post(f"/keyvault/{secret.pk}/delete/", {"confirm": "yes"}, follow=True)
    assert "is still referenced by" in resp.content.decode() and "gpu-ssh-01" in resp.content.decode()
    assert Secret.objects.filter(pk=secret.pk).exists() and not audits("keyvault.secret.delete")


def _csv(resp):
    body = b"".join(resp.streaming_content).decode()
    return body, list(csv.reader(io.StringIO(body)))


def test_lists_export_csv_without_values(keys, root, client, make_secret):
    secret = make_secret("exported", description="rotated quarterly")
    system_read(secret, "deploy")
    root_token, token = onetime.issue_token(root, "secret", secret.name)
    client.force_login(root)
    for url, expected in [("/keyvault/?export=csv", "exported"), ("/keyvault/tokens/?export=csv", root_token.token_prefix),
                          ("/keyvault/access-log/?export=csv", "deploy -> 10.1.2.3")]:
        resp = client.get(url)
        body, rows = _csv(resp)
        assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv"), url
        assert expected in body and len(rows) == 2, url
        assert_no_value(body, secret)
        assert "rotated quarterly" not in body  # names, not what people wrote about them
        assert token not in body and root_token.token_hash not in body
    for url in ("/keyvault/", "/keyvault/tokens/", "/keyvault/access-log/", f"/keyvault/{secret.pk}/"):
        html = client.get(url).content.decode()
        assert_no_value(html, secret)
        assert token not in html


def test_secret_list_sorts_filters_with_chips_and_guides_when_empty(keys, root, client, make_secret, make_project):
    client.force_login(root)
    empty = client.get("/keyvault/").content.decode()
    assert "No secrets you may see" in empty and 'href="/keyvault/new/"' in empty
    team = make_project("team-s")
    make_secret("b-two", kind="password", project=team)
    make_secret("a-one")
    html = client.get("/keyvault/?sort=-name").content.decode()
    assert html.index("b-two") < html.index("a-one")
    html = client.get("/keyvault/?project=team-s").content.decode()
    assert "b-two" in html and 'href="/keyvault/?"' not in html and "a-one</a>" not in html
    assert "Remove filter Project team-s" in html
    html = client.get("/keyvault/?name=zzz").content.decode()
    assert "No secret matches these filters." in html


def test_token_list_states_filter_and_empty_state(keys, root, client, make_secret):
    client.force_login(root)
    assert "No one-time tokens yet" in client.get("/keyvault/tokens/").content.decode()
    secret = make_secret("tok")
    live, _ = onetime.issue_token(root, "secret", secret.name)
    gone, _ = onetime.issue_token(root, "secret", secret.name)
    onetime.revoke_token(root, gone)
    html = client.get("/keyvault/tokens/?status=active").content.decode()
    assert live.token_prefix in html and gone.token_prefix not in html
    assert f'href="/keyvault/tokens/{live.pk}/revoke/"' in html
    html = client.get("/keyvault/tokens/?status=revoked").content.decode()
    assert gone.token_prefix in html and 'data-status="revoked"' in html and "/revoke/" not in html


def test_access_log_query_count_does_not_grow_with_rows(keys, root, client, make_secret):
    secret = make_secret("counted")
    client.force_login(root)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/keyvault/access-log/").status_code == 200
        return len(ctx)
    system_read(secret, "one")
    few = count()
    for i in range(5):
        system_read(secret, f"more {i}")
    assert count() == few
