"""LDAP login against a real slapd: settings from the environment, role and project mapping,
removal at the next login, refused logins, and a clear message when the directory is down."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.middleware import SessionMiddleware
from django.contrib.auth.views import LoginView
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory
from django.urls import include, path

from aimatrix.ldap_settings import LDAP_BACKEND, configure_ldap
from apps.core.models import AuditEvent
from apps.rbac import services
from apps.rbac.forms import LoginForm
from apps.rbac.ldap import LDAP_ERROR_MESSAGE, LDAP_UNREACHABLE_MESSAGE, mapped_access
from apps.rbac.models import Membership, Project
from apps.rbac.roles import ROLE_TEMPLATES

from .ldap_fixtures import (  # noqa: F401  (ldap_on, slapd_server: fixtures)
    PASSWORDS,
    free_port,
    ldap_configured,
    ldap_env,
    ldap_on,
    ldap_settings_from_env,
    slapd_server,
)

LOGIN_URL = "/accounts/login/"
User = get_user_model()


def login(username, password, client=None):
    client = client or Client()
    response = client.post(LOGIN_URL, {"username": username, "password": password})
    return client, response


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def roles_of(user) -> set[str]:
    return set(user.groups.filter(name__in=ROLE_TEMPLATES).values_list("name", flat=True))


# --- settings -----------------------------------------------------------------------------------

def test_no_server_uri_configures_nothing(monkeypatch):
    monkeypatch.delenv("AIMATRIX_LDAP_SERVER_URI", raising=False)
    values = {"AUTHENTICATION_BACKENDS": ["axes.backends.AxesStandaloneBackend",
                                         "django.contrib.auth.backends.ModelBackend"]}
    configure_ldap(values)
    assert values == {"AUTHENTICATION_BACKENDS": ["axes.backends.AxesStandaloneBackend",
                                                  "django.contrib.auth.backends.ModelBackend"]}


def test_settings_from_environment():
    import ldap
    from django_auth_ldap.config import GroupOfNamesType

    values = ldap_settings_from_env(ldap_env("ldap://ldap.example.org/", AIMATRIX_LDAP_TIMEOUT="3",
                                             AIMATRIX_LDAP_START_TLS="1"))
    backends = values["AUTHENTICATION_BACKENDS"]
    assert backends.index(LDAP_BACKEND) == backends.index("axes.backends.AxesStandaloneBackend") + 1
    assert backends.index(LDAP_BACKEND) < backends.index("django.contrib.auth.backends.ModelBackend")
    assert backends.count(LDAP_BACKEND) == 1
    assert values["AUTH_LDAP_SERVER_URI"] == "ldap://ldap.example.org/"
    assert values["AUTH_LDAP_START_TLS"] is True
    assert values["AUTH_LDAP_USER_SEARCH"].filterstr == "(uid=%(user)s)"
    assert values["AUTH_LDAP_GROUP_SEARCH"].filterstr == "(objectClass=groupOfNames)"
    assert isinstance(values["AUTH_LDAP_GROUP_TYPE"], GroupOfNamesType)
    assert values["AUTH_LDAP_USER_ATTR_MAP"] == {"first_name": "givenName", "last_name": "sn", "email": "mail"}
    assert values["AUTH_LDAP_ALWAYS_UPDATE_USER"] is True
    assert values["AUTH_LDAP_CACHE_TIMEOUT"] == 0
    options = values["AUTH_LDAP_CONNECTION_OPTIONS"]
    assert options[ldap.OPT_NETWORK_TIMEOUT] == 3 and options[ldap.OPT_TIMEOUT] == 3
    assert set(values["AUTH_LDAP_USER_FLAGS_BY_GROUP"]) == {"is_staff"}
    # The map is keyed by normalized DNs whatever spelling the environment used.
    assert values["AIMATRIX_LDAP_GROUP_MAP"]["cn=developers,ou=groups,dc=example,dc=org"] == {
        "roles": ["data-developer"], "projects": {"vision": "member"}}


@pytest.mark.parametrize("raw, error", [
    ("{not json", "not valid JSON"),
    ('["cn=x,dc=org"]', "JSON object"),
    ('{"cn=x,dc=org": {"roles": ["root"]}}', "unknown role templates"),
    ('{"cn=x,dc=org": {"roles": "sre"}}', "list of role template names"),
    ('{"cn=x,dc=org": {"projects": {"Bad Name": "member"}}}', "invalid project name"),
    ('{"cn=x,dc=org": {"projects": {"vision": "boss"}}}', "project role"),
    ('{"cn=x,dc=org": {"groups": []}}', "'roles' and/or 'projects'"),
])
def test_malformed_group_map_stops_the_start(raw, error):
    with pytest.raises(ImproperlyConfigured, match=error):
        ldap_settings_from_env(ldap_env("ldap://ldap.example.org/", AIMATRIX_LDAP_GROUP_MAP=raw))


def test_strongest_project_role_wins():
    mapping = {"cn=a": {"roles": ["engineer"], "projects": {"p": "viewer"}},
               "cn=b": {"roles": ["sre"], "projects": {"p": "owner", "q": "member"}}}
    access = mapped_access(["CN=A", "cn=b", "cn=unmapped"], mapping)
    assert access.roles == {"engineer", "sre"}
    assert access.projects == {"p": "owner", "q": "member"}


# --- logins against slapd -------------------------------------------------------------------------

@pytest.mark.django_db
def test_alice_logs_in_and_gets_sre(ldap_on):
    client, response = login("alice", PASSWORDS["alice"])
    assert response.status_code == 302, response.content[:500]
    assert logged_in(client)
    alice = User.objects.get(username="alice")
    assert client.session["_auth_user_backend"] == LDAP_BACKEND
    assert roles_of(alice) == {"sre"}
    assert (alice.first_name, alice.last_name, alice.email) == ("Alice", "Liddell", "alice@example.org")
    assert alice.is_staff and not alice.is_superuser  # AIMATRIX_LDAP_STAFF_GROUPS
    assert not alice.has_usable_password()  # the password stays in the directory
    assert alice.has_perm("rbac.unrestricted")  # the sre role's permissions apply
    assert AuditEvent.objects.filter(action="auth.login", actor=alice).exists()
    assert AuditEvent.objects.filter(action="user.ldap_create", object_id=str(alice.pk)).exists()
    sync = AuditEvent.objects.get(action="user.ldap_sync", object_id=str(alice.pk))
    assert sync.changes == {"before": {"roles": []}, "after": {"roles": ["sre"]}}
    # The session works on the next request (LDAPBackend.get_user).
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_bob_gets_data_developer_and_vision_membership(ldap_on):
    client, response = login("bob", PASSWORDS["bob"])
    assert response.status_code == 302
    bob = User.objects.get(username="bob")
    assert roles_of(bob) == {"data-developer"}
    vision = Project.objects.get(name="vision")  # created by the mapping, with its group
    assert vision.group.name == "project:vision"
    membership = Membership.objects.get(project=vision, user=bob)
    assert (membership.role, membership.from_ldap) == ("member", True)
    assert bob.groups.filter(pk=vision.group_id).exists()
    assert AuditEvent.objects.filter(action="project.create", object_id=str(vision.pk)).exists()
    assert AuditEvent.objects.filter(action="user.ldap_sync", object_id=str(vision.pk),
                                     changes__after__role="member").exists()


@pytest.mark.django_db
def test_removal_from_ldap_group_removes_role_and_membership_at_next_login(ldap_on):
    # A project that exists already, a manual membership and a non-role group: the sync must
    # use the first and leave the other two alone.
    vision = services.create_project(None, "vision")
    other = services.create_project(None, "other")
    login("bob", PASSWORDS["bob"])
    bob = User.objects.get(username="bob")
    Membership.objects.create(project=other, user=bob, role="viewer")  # by hand: from_ldap=False
    bob.groups.add(other.group)
    custom, _ = Group.objects.get_or_create(name="custom-non-role")
    bob.groups.add(custom)
    assert Membership.objects.get(project=vision, user=bob).from_ldap

    ldap_on.set_group_members("developers", [])
    try:
        client, response = login("bob", PASSWORDS["bob"])
    finally:
        ldap_on.set_group_members("developers", ["bob"])
    assert response.status_code == 302 and logged_in(client)
    bob = User.objects.get(username="bob")
    assert roles_of(bob) == set()
    assert not Membership.objects.filter(project=vision, user=bob).exists()
    assert not bob.groups.filter(pk=vision.group_id).exists()
    assert Membership.objects.get(project=other, user=bob).role == "viewer"
    assert bob.groups.filter(pk=other.group_id).exists()
    assert bob.groups.filter(pk=custom.pk).exists()
    removed = AuditEvent.objects.filter(action="user.ldap_sync", object_id=str(vision.pk),
                                        changes__before__user="bob").exclude(changes__has_key="after")
    assert removed.count() == 1
    assert AuditEvent.objects.filter(action="user.ldap_sync", object_id=str(bob.pk),
                                     changes__after__roles=[]).exists()

    # Back in the group: the role and the membership return at the following login.
    login("bob", PASSWORDS["bob"])
    assert roles_of(bob) == {"data-developer"}
    assert Membership.objects.get(project=vision, user=bob).from_ldap


@pytest.mark.django_db
def test_carol_without_mapped_group_loses_stale_roles(ldap_on):
    carol = User.objects.create_user("carol")  # e.g. an engineer role given by hand before LDAP
    carol.groups.add(Group.objects.get(name="engineer"))
    client, response = login("carol", PASSWORDS["carol"])
    assert response.status_code == 302 and logged_in(client)
    carol = User.objects.get(username="carol")
    assert roles_of(carol) == set() and not carol.is_staff
    assert not Membership.objects.filter(user=carol).exists()


@pytest.mark.django_db
def test_wrong_password_is_refused(ldap_on):
    client, response = login("alice", "not-" + PASSWORDS["alice"])
    assert response.status_code == 200 and not logged_in(client)
    assert response.context["form"].errors
    assert LDAP_UNREACHABLE_MESSAGE.encode() not in response.content
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert failed.changes["after"]["username"] == "alice" and "reason" not in failed.changes["after"]
    assert PASSWORDS["alice"] not in json.dumps(failed.changes)


@pytest.mark.django_db
def test_unknown_user_is_refused(ldap_on):
    client, response = login("mallory", "whatever-Password-1")
    assert response.status_code == 200 and not logged_in(client)
    assert not User.objects.filter(username="mallory").exists()


@pytest.mark.django_db
def test_password_of_another_user_is_refused(ldap_on):
    client, response = login("alice", PASSWORDS["bob"])
    assert response.status_code == 200 and not logged_in(client)


@pytest.mark.django_db
def test_without_group_map_roles_stay_manual(slapd_server):
    carol = User.objects.create_user("carol")
    carol.groups.add(Group.objects.get(name="engineer"))
    with ldap_configured(slapd_server.uri, AIMATRIX_LDAP_GROUP_MAP=""):
        client, response = login("carol", PASSWORDS["carol"])
    assert response.status_code == 302 and logged_in(client)
    assert roles_of(carol) == {"engineer"}
    assert not AuditEvent.objects.filter(action="user.ldap_sync").exists()


@pytest.mark.django_db
def test_rejected_service_account_gives_a_directory_error(slapd_server):
    with ldap_configured(slapd_server.uri, AIMATRIX_LDAP_BIND_PASSWORD="not-the-password"):
        client, response = login("alice", PASSWORDS["alice"])
    assert response.status_code == 200 and not logged_in(client)
    assert LDAP_ERROR_MESSAGE.encode() in response.content


# --- directory down -------------------------------------------------------------------------------

def closed_port_uri() -> str:
    return f"ldap://127.0.0.1:{free_port()}/"


@pytest.mark.django_db
def test_ldap_down_gives_a_clear_message_not_a_500():
    with ldap_configured(closed_port_uri()):
        started = time.monotonic()
        client, response = login("alice", PASSWORDS["alice"])
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 5
    assert not logged_in(client)
    assert LDAP_UNREACHABLE_MESSAGE.encode() in response.content
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert failed.changes["after"]["reason"] == "directory unreachable"


@pytest.mark.django_db
def test_ldap_down_local_account_still_logs_in(make_user):
    make_user("breakglass", superuser=True, password="local-Correct-Horse-1")
    with ldap_configured(closed_port_uri()):
        client, response = login("breakglass", "local-Correct-Horse-1")
    assert response.status_code == 302 and logged_in(client)
    assert client.session["_auth_user_backend"] == "django.contrib.auth.backends.ModelBackend"


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers (a hung directory)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"ldap://127.0.0.1:{sock.getsockname()[1]}/"
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    sock.close()


@pytest.mark.django_db
def test_hung_ldap_server_times_out_quickly(silent_server):
    with ldap_configured(silent_server, AIMATRIX_LDAP_TIMEOUT="1"):
        started = time.monotonic()
        client, response = login("alice", PASSWORDS["alice"])
        elapsed = time.monotonic() - started
    assert response.status_code == 200 and not logged_in(client)
    assert elapsed < 4, elapsed
    assert LDAP_UNREACHABLE_MESSAGE.encode() in response.content


@pytest.mark.django_db
def test_login_form_reports_ldap_down_as_its_error():
    """apps.rbac.forms.LoginForm (for LoginView(authentication_form=...)): the outage is the
    form's own non-field error, not "wrong password"."""
    request = RequestFactory().post(LOGIN_URL)
    SessionMiddleware(lambda r: None).process_request(request)
    with ldap_configured(closed_port_uri()):
        form = LoginForm(request, data={"username": "alice", "password": PASSWORDS["alice"]})
        assert not form.is_valid()
    assert form.non_field_errors() == [LDAP_UNREACHABLE_MESSAGE]
    assert form.errors.as_data()["__all__"][0].code == "ldap_unreachable"


# The login page as it looks with LoginView(authentication_form=LoginForm) (see the report of
# apps/rbac/forms.py): used by the test below through pytest.mark.urls.
urlpatterns = [
    path("accounts/login/", LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("", include("aimatrix.urls")),
]


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_login_view_with_login_form_shows_the_outage_once():
    with ldap_configured(closed_port_uri()):
        client, response = login("alice", PASSWORDS["alice"])
    assert response.status_code == 200 and not logged_in(client)
    assert response.context["form"].non_field_errors() == [LDAP_UNREACHABLE_MESSAGE]
    # The form reports it, so no second copy in the flash messages.
    assert not list(response.context["messages"])


@pytest.mark.django_db
def test_login_form_keeps_the_usual_error_when_ldap_is_up(ldap_on):
    request = RequestFactory().post(LOGIN_URL)
    SessionMiddleware(lambda r: None).process_request(request)
    form = LoginForm(request, data={"username": "alice", "password": "wrong-Password-1"})
    assert not form.is_valid()
    assert form.errors.as_data()["__all__"][0].code == "invalid_login"
