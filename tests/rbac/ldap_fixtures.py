"""A real slapd for the LDAP tests (scripts/slapd.sh), a small directory tree, and helpers that
turn AIMATRIX_LDAP_* environment values into settings through aimatrix.ldap_settings."""
from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from aimatrix.ldap_settings import configure_ldap

ROOT = Path(__file__).resolve().parents[2]
SLAPD_SH = ROOT / "scripts" / "slapd.sh"
SUFFIX = "dc=example,dc=org"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
READER_DN = f"cn=reader,{SUFFIX}"
READER_PW = "reader-" + secrets.token_hex(8)
PLACEHOLDER = f"uid=nobody,{PEOPLE}"  # groupOfNames needs one member; this DN has no entry
PASSWORDS = {"alice": "alice-Secret-1", "bob": "bob-Secret-2", "carol": "carol-Secret-3"}
GROUP_DN = {name: f"cn={name},{GROUPS}" for name in ("sre", "developers", "misc")}
GROUP_MAP = {
    GROUP_DN["sre"]: {"roles": ["sre"]},
    # Written with different case and spacing on purpose: DNs are compared normalized.
    "CN=Developers, OU=Groups, DC=example, DC=org": {"roles": ["data-developer"],
                                                      "projects": {"vision": "member"}},
}


def ssha(password: str) -> str:
    """{SSHA} hash as slappasswd makes it: the directory never stores a plaintext password."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def tree_ldif() -> str:
    people = {
        "alice": ("Alice", "Liddell", "alice@example.org"),
        "bob": ("Bob", "Builder", "bob@example.org"),
        "carol": ("Carol", "Danvers", "carol@example.org"),
    }
    members = {"sre": ["alice"], "developers": ["bob"], "misc": ["carol"]}
    entries = [
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups",
        f"dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: reader\nuserPassword: {ssha(READER_PW)}",
    ]
    for uid, (given, sn, mail) in people.items():
        entries.append(
            f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {given} {sn}\n"
            f"givenName: {given}\nsn: {sn}\nmail: {mail}\nuserPassword: {ssha(PASSWORDS[uid])}")
    for group, uids in members.items():
        lines = [f"dn: {GROUP_DN[group]}", "objectClass: groupOfNames", f"cn: {group}"]
        lines += [f"member: uid={uid},{PEOPLE}" for uid in uids] + [f"member: {PLACEHOLDER}"]
        entries.append("\n".join(lines))
    return "\n\n".join(entries) + "\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Slapd:
    uri: str
    root_dn: str
    root_pw: str
    env: dict

    def connection(self):
        import ldap

        conn = ldap.initialize(self.uri, bytes_mode=False)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
        conn.simple_bind_s(self.root_dn, self.root_pw)
        return conn

    def set_group_members(self, group: str, uids: list[str]) -> None:
        import ldap

        values = [f"uid={uid},{PEOPLE}".encode() for uid in uids] + [PLACEHOLDER.encode()]
        conn = self.connection()
        try:
            conn.modify_s(GROUP_DN[group], [(ldap.MOD_REPLACE, "member", values)])
        finally:
            conn.unbind_s()


def _slapd(command: list[str], env: dict) -> str:
    proc = subprocess.run([str(SLAPD_SH), *command], env=env, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/slapd.sh {' '.join(command)} failed ({proc.returncode}):\n"
                           f"{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@pytest.fixture(scope="session")
def slapd_server(tmp_path_factory):
    """One private slapd for the session, with alice (sre), bob (developers), carol (misc)."""
    if shutil.which("slapd") is None and not Path("/usr/sbin/slapd").exists():
        pytest.fail("slapd is not installed (apt-get install slapd ldap-utils; scripts/install.sh test)")
    work = tmp_path_factory.mktemp("slapd")
    port = int(os.environ.get("TEST_SLAPD_PORT") or free_port())
    env = {**os.environ, "SLAPD_DIR": str(work / "slapd"), "SLAPD_PORT": str(port),
           "SLAPD_SUFFIX": SUFFIX, "SLAPD_ROOT_PW": "root-" + secrets.token_hex(12)}
    _slapd(["start"], env)
    try:
        ldif = work / "tree.ldif"
        ldif.write_text(tree_ldif())
        _slapd(["load", str(ldif)], env)
        yield Slapd(uri=f"ldap://127.0.0.1:{port}/", root_dn=f"cn=admin,{SUFFIX}",
                    root_pw=env["SLAPD_ROOT_PW"], env=env)
    finally:
        _slapd(["stop"], env)


def ldap_env(uri: str, **overrides: str) -> dict[str, str]:
    env = {
        "AIMATRIX_LDAP_SERVER_URI": uri,
        "AIMATRIX_LDAP_BIND_DN": READER_DN,
        "AIMATRIX_LDAP_BIND_PASSWORD": READER_PW,
        "AIMATRIX_LDAP_USER_BASE": PEOPLE,
        "AIMATRIX_LDAP_GROUP_BASE": GROUPS,
        "AIMATRIX_LDAP_STAFF_GROUPS": GROUP_DN["sre"],
        "AIMATRIX_LDAP_GROUP_MAP": json.dumps(GROUP_MAP),
    }
    env.update(overrides)
    return env


def ldap_settings_from_env(env: dict[str, str]) -> dict:
    """What aimatrix/settings.py would hold with this environment."""
    values = {"AUTHENTICATION_BACKENDS": list(settings.AUTHENTICATION_BACKENDS)}
    with _environ(env):
        configure_ldap(values)
    return values


@contextlib.contextmanager
def _environ(env: dict[str, str]):
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def ldap_configured(uri: str, **overrides: str):
    with override_settings(**ldap_settings_from_env(ldap_env(uri, **overrides))):
        yield


@pytest.fixture
def ldap_on(slapd_server):
    """Settings pointing at the session's slapd, as configure_ldap builds them from the env."""
    with ldap_configured(slapd_server.uri):
        yield slapd_server
