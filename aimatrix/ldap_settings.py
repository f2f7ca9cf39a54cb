"""LDAP login settings (django-auth-ldap), read from the environment.

Nothing happens unless AIMATRIX_LDAP_SERVER_URI is set. Then:

  AIMATRIX_LDAP_SERVER_URI       ldap://host:389/ or ldaps://host:636/ (required)
  AIMATRIX_LDAP_BIND_DN          service account used to search for users and groups
  AIMATRIX_LDAP_BIND_PASSWORD    its password
  AIMATRIX_LDAP_USER_BASE        where users live (required), e.g. ou=people,dc=example,dc=org
  AIMATRIX_LDAP_USER_FILTER      default (uid=%(user)s)
  AIMATRIX_LDAP_GROUP_BASE       where groups live (required), e.g. ou=groups,dc=example,dc=org
  AIMATRIX_LDAP_GROUP_FILTER     default (objectClass=groupOfNames)
  AIMATRIX_LDAP_START_TLS        1 = StartTLS on ldap:// connections
  AIMATRIX_LDAP_CA_CERT          CA bundle (PEM) to verify the server certificate
  AIMATRIX_LDAP_TIMEOUT          seconds for connecting and for each operation (default 5)
  AIMATRIX_LDAP_REQUIRE_GROUP    only members of this group DN may log in
  AIMATRIX_LDAP_STAFF_GROUPS     group DNs (separated by ';') whose members get is_staff
  AIMATRIX_LDAP_SUPERUSER_GROUPS group DNs (separated by ';') whose members get is_superuser
  AIMATRIX_LDAP_GROUP_MAP        JSON: LDAP group DN -> role templates and project memberships,
      {"cn=sre,ou=groups,dc=example,dc=org": {"roles": ["sre"]},
       "cn=vision,ou=groups,dc=example,dc=org": {"roles": ["data-developer"],
                                                 "projects": {"vision": "member"}}}

At every LDAP login apps.rbac.ldap.sync_ldap_user() makes the user's role-template groups and
LDAP-backed project memberships match this map (see there). A malformed map stops the start
(ImproperlyConfigured) instead of silently granting nothing, or the wrong thing.
"""
from __future__ import annotations

import functools
import json
import operator
import re

from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_float, env_str

LDAP_BACKEND = "django_auth_ldap.backend.LDAPBackend"
AXES_BACKENDS = ("axes.backends.AxesStandaloneBackend", "axes.backends.AxesBackend")
PROJECT_ROLES = ("owner", "member", "viewer")
# Same rule as apps.rbac.models.slug_validator (not imported: settings load before apps).
PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def normalize_dn(dn: str) -> str:
    """Canonical form for comparing DNs: lower case, no spaces around separators."""
    import ldap.dn

    try:
        return ldap.dn.dn2str(ldap.dn.str2dn(dn.strip().lower()))
    except ldap.DECODING_ERROR as exc:
        raise ImproperlyConfigured(f"not a valid LDAP DN: {dn!r}") from exc


def parse_group_map(raw: str) -> dict[str, dict]:
    """Validate AIMATRIX_LDAP_GROUP_MAP; returns {normalized group DN: {"roles": [...],
    "projects": {name: role}}}."""
    from apps.rbac.roles import ROLE_TEMPLATES  # plain data module, safe before apps load

    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"AIMATRIX_LDAP_GROUP_MAP is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ImproperlyConfigured("AIMATRIX_LDAP_GROUP_MAP must be a JSON object of group DN -> mapping")
    result: dict[str, dict] = {}
    for dn, entry in data.items():
        where = f"AIMATRIX_LDAP_GROUP_MAP[{dn!r}]"
        if not isinstance(entry, dict) or set(entry) - {"roles", "projects"}:
            raise ImproperlyConfigured(f"{where} must be an object with 'roles' and/or 'projects'")
        roles = entry.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ImproperlyConfigured(f"{where}['roles'] must be a list of role template names")
        unknown = sorted(set(roles) - set(ROLE_TEMPLATES))
        if unknown:
            raise ImproperlyConfigured(
                f"{where}: unknown role templates {unknown}; known: {sorted(ROLE_TEMPLATES)}")
        projects = entry.get("projects", {})
        if not isinstance(projects, dict):
            raise ImproperlyConfigured(f"{where}['projects'] must be an object of project name -> role")
        for name, role in projects.items():
            if not isinstance(name, str) or not PROJECT_NAME.match(name):
                raise ImproperlyConfigured(f"{where}: invalid project name {name!r}")
            if role not in PROJECT_ROLES:
                raise ImproperlyConfigured(f"{where}: project role {role!r} is not one of {PROJECT_ROLES}")
        key = normalize_dn(dn)
        if key in result:
            raise ImproperlyConfigured(f"AIMATRIX_LDAP_GROUP_MAP names {dn!r} twice")
        result[key] = {"roles": list(roles), "projects": dict(projects)}
    return result


def _dn_list(name: str) -> list[str]:
    # DNs contain commas, so lists of DNs are separated by ';'.
    return [normalize_dn(item) for item in env_str(name).split(";") if item.strip()]


def _required(name: str) -> str:
    value = env_str(name).strip()
    if not value:
        raise ImproperlyConfigured(f"{name} is required when AIMATRIX_LDAP_SERVER_URI is set")
    return value


def configure_ldap(settings: dict) -> None:
    """Add django-auth-ldap settings to `settings` (the settings module's globals())."""
    server_uri = env_str("AIMATRIX_LDAP_SERVER_URI").strip()
    if not server_uri:
        return

    import ldap
    from django_auth_ldap.config import GroupOfNamesType, LDAPGroupQuery, LDAPSearch

    timeout = env_float("AIMATRIX_LDAP_TIMEOUT", 5.0)
    settings["AUTH_LDAP_SERVER_URI"] = server_uri
    settings["AUTH_LDAP_BIND_DN"] = env_str("AIMATRIX_LDAP_BIND_DN")
    settings["AUTH_LDAP_BIND_PASSWORD"] = env_str("AIMATRIX_LDAP_BIND_PASSWORD")
    settings["AUTH_LDAP_USER_SEARCH"] = LDAPSearch(
        _required("AIMATRIX_LDAP_USER_BASE"), ldap.SCOPE_SUBTREE,
        env_str("AIMATRIX_LDAP_USER_FILTER", "(uid=%(user)s)"),
    )
    settings["AUTH_LDAP_GROUP_SEARCH"] = LDAPSearch(
        _required("AIMATRIX_LDAP_GROUP_BASE"), ldap.SCOPE_SUBTREE,
        env_str("AIMATRIX_LDAP_GROUP_FILTER", "(objectClass=groupOfNames)"),
    )
    settings["AUTH_LDAP_GROUP_TYPE"] = GroupOfNamesType(name_attr="cn")
    settings["AUTH_LDAP_START_TLS"] = env_bool("AIMATRIX_LDAP_START_TLS", False)
    settings["AUTH_LDAP_USER_ATTR_MAP"] = {"first_name": "givenName", "last_name": "sn", "email": "mail"}
    # Names, e-mail and flags follow the directory at every login.
    settings["AUTH_LDAP_ALWAYS_UPDATE_USER"] = True
    # Group membership is read fresh at each login: removal in LDAP takes effect at the next one.
    settings["AUTH_LDAP_CACHE_TIMEOUT"] = 0
    # Permissions come from our Django groups (role templates), not from LDAP group names.
    settings["AUTH_LDAP_FIND_GROUP_PERMS"] = False
    settings["AUTH_LDAP_MIRROR_GROUPS"] = False

    # A directory that is down or hangs must fail the login quickly, not hold a worker.
    options = {
        ldap.OPT_NETWORK_TIMEOUT: timeout,  # TCP connect
        ldap.OPT_TIMEOUT: timeout,  # each synchronous operation (bind, search)
        ldap.OPT_REFERRALS: 0,  # never chase referrals with our credentials (AD)
    }
    ca_cert = env_str("AIMATRIX_LDAP_CA_CERT")
    if ca_cert:
        options[ldap.OPT_X_TLS_CACERTFILE] = ca_cert
        options[ldap.OPT_X_TLS_REQUIRE_CERT] = ldap.OPT_X_TLS_DEMAND
        options[ldap.OPT_X_TLS_NEWCTX] = 0  # must come last: applies the TLS options above
    settings["AUTH_LDAP_CONNECTION_OPTIONS"] = options

    require_group = env_str("AIMATRIX_LDAP_REQUIRE_GROUP").strip()
    if require_group:
        settings["AUTH_LDAP_REQUIRE_GROUP"] = normalize_dn(require_group)
    flags = {}
    for flag, env_name in (("is_staff", "AIMATRIX_LDAP_STAFF_GROUPS"),
                           ("is_superuser", "AIMATRIX_LDAP_SUPERUSER_GROUPS")):
        dns = _dn_list(env_name)
        if dns:
            flags[flag] = functools.reduce(operator.or_, map(LDAPGroupQuery, dns))
    settings["AUTH_LDAP_USER_FLAGS_BY_GROUP"] = flags

    # Our mapping (read by apps.rbac.ldap), not a django-auth-ldap setting.
    settings["AIMATRIX_LDAP_GROUP_MAP"] = parse_group_map(env_str("AIMATRIX_LDAP_GROUP_MAP"))

    # LDAP after the axes backend (locked-out logins never reach the directory) and before
    # ModelBackend (local accounts such as the break-glass admin keep working when LDAP is down).
    backends = [b for b in settings.get("AUTHENTICATION_BACKENDS", []) if b != LDAP_BACKEND]
    axes_positions = [i for i, b in enumerate(backends) if b in AXES_BACKENDS]
    backends.insert(axes_positions[-1] + 1 if axes_positions else 0, LDAP_BACKEND)
    settings["AUTHENTICATION_BACKENDS"] = backends

