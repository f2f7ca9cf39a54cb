"""Users' SSH public keys and their installation on standalone nodes for an allocation's window.

A key is accepted only as `<type> <base64>` of a type below (the optional comment is dropped and
never reaches a node), parsed by paramiko so a malformed blob, a wrong type or a short RSA key is
refused with a message. On the node, a fixed Python script (INSTALL_SCRIPT, passed as one argv
item, never built from user data) runs under `sudo -n` with the operation, the file, the login and
the marker as argv and the key lines on stdin: it drops every line whose last field is the marker,
appends the new lines with the marker as their comment, and replaces the file atomically (temp
file in the same directory, owner and mode kept). Removal deletes exactly the marked lines.

Where the keys go: settings.ALLOCATION_AUTHORIZED_KEYS_FILE, with sshd's tokens %h (the login's
home) and %u (the login); default %h/.ssh/authorized_keys.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re

import paramiko
from django.conf import settings

from apps.core.errors import InvalidInput

KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
MIN_RSA_BITS = 2048
MAX_KEYS_PER_USER = 20
DEFAULT_KEYS_FILE = "%h/.ssh/authorized_keys"
_MARKER = re.compile(r"^aimx-allocation-\d{1,12}$")
_LOGIN = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
_PATH = re.compile(r"^(?:/|%h/)[A-Za-z0-9._/%-]{1,250}$")


def parse_public_key(text: str, field: str = "public_key") -> tuple[str, str]:
    """(normalized line `<type> <base64>`, SHA256 fingerprint), or InvalidInput naming `field`."""
    parts = (text or "").strip().split()
    if len(parts) < 2 or "\n" in (text or "").strip():
        raise InvalidInput({field: ["Paste one public key line: '<type> <base64> [comment]'."]})
    kind, blob = parts[0], parts[1]
    if kind not in KEY_TYPES:
        raise InvalidInput({field: [f"Key type {kind[:40]!r} is not accepted; use one of {', '.join(KEY_TYPES)}."]})
    try:
        raw = base64.b64decode(blob, validate=True)
        key = paramiko.PKey.from_type_string(kind, raw)
    except (binascii.Error, ValueError, paramiko.SSHException, TypeError) as exc:
        raise InvalidInput({field: [f"Not a valid {kind} public key ({str(exc)[:80] or 'bad data'})."]}) from None
    if kind == "ssh-rsa" and key.get_bits() < MIN_RSA_BITS:
        raise InvalidInput({field: [f"RSA keys need at least {MIN_RSA_BITS} bits."]})
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")
    return f"{kind} {blob}", fingerprint


def marker(allocation_id: int) -> str:
    return check_marker(f"aimx-allocation-{int(allocation_id)}")


def check_marker(value: str) -> str:
    if not _MARKER.match(value or ""):
        raise ValueError(f"bad allocation marker {value!r}")
    return value


def check_login(value: str) -> str:
    if not _LOGIN.match(value or "") or value == "root":
        raise InvalidInput({"login": [f"{value!r} is not a Unix login keys may be installed for (never root)."]})
    return value


def keys_file() -> str:
    path = getattr(settings, "ALLOCATION_AUTHORIZED_KEYS_FILE", DEFAULT_KEYS_FILE)
    if not _PATH.match(path) or ".." in path:
        raise ValueError(f"ALLOCATION_AUTHORIZED_KEYS_FILE {path!r} must be absolute or start with %h/")
    return path


# Runs on the node as root (sudo -n python3 -c INSTALL_SCRIPT op path login marker); stdin: key lines.
INSTALL_SCRIPT = r"""
import os, pwd, re, sys, tempfile
op, path, login, marker = sys.argv[1:5]
if op not in ("add", "remove") or not re.match(r"^aimx-allocation-\d{1,12}$", marker):
    sys.exit("bad arguments")
user = pwd.getpwnam(login)
path = path.replace("%h", user.pw_dir).replace("%u", login)
if not os.path.isabs(path):
    sys.exit("keys file must be absolute")
key_line = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$")
new = []
if op == "add":
    for line in sys.stdin.read().splitlines():
        line = line.strip()
        if not line:
            continue
        if not key_line.match(line):
            sys.exit("refused a key line that is not '<type> <base64>'")
        new.append(line + " " + marker)
directory = os.path.dirname(path)
if not os.path.isdir(directory):
    os.makedirs(directory, mode=0o700)
    os.chown(directory, user.pw_uid, user.pw_gid)
old = []
uid, gid, mode = user.pw_uid, user.pw_gid, 0o600
if os.path.exists(path):
    st = os.stat(path)
    uid, gid, mode = st.st_uid, st.st_gid, st.st_mode & 0o7777
    with open(path) as f:
        old = f.read().splitlines()
kept = [l for l in old if not (len(l.split()) >= 3 and l.split()[-1] == marker)]
fd, tmp = tempfile.mkstemp(dir=directory, prefix=".aimx-keys-")
try:
    with os.fdopen(fd, "w") as f:
        f.write("".join(l + "\n" for l in kept + new))
    os.chown(tmp, uid, gid)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
except BaseException:
    os.unlink(tmp)
    raise
print(f"removed={len(old) - len(kept)} added={len(new)}")
"""


def install_argv(op: str, login: str, marker_text: str) -> list[str]:
    if op not in ("add", "remove"):
        raise ValueError(op)
    return ["sudo", "-n", "python3", "-c", INSTALL_SCRIPT, op, keys_file(), check_login(login),
            check_marker(marker_text)]


def stdin_for(lines: list[str]) -> bytes:
    for line in lines:  # re-checked: only normalized `<type> <base64>` lines leave the portal
        parse_public_key(line)
    return "".join(f"{line}\n" for line in lines).encode()


# --- a user's own keys (services used by the page and the API) -----------------------------------------
def user_keys(user):
    from .models import UserSshKey

    return UserSshKey.objects.filter(user=user).order_by("name")


def add_key(user, *, name: str, public_key: str):
    """Add one of the user's own keys (one audit entry)."""
    from django.db import transaction

    from apps.core.audit import record_audit

    from .models import UserSshKey

    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput({"name": ["Give the key a name of 1-100 characters, e.g. laptop."]})
    line, fingerprint = parse_public_key(public_key)
    with transaction.atomic():
        keys = UserSshKey.objects.select_for_update().filter(user=user)
        if keys.filter(fingerprint=fingerprint).exists():
            raise InvalidInput({"public_key": [f"You already added this key ({fingerprint})."]})
        if keys.count() >= MAX_KEYS_PER_USER:
            raise InvalidInput({"public_key": [f"At most {MAX_KEYS_PER_USER} keys; remove one first."]})
        key = UserSshKey.objects.create(user=user, name=name, public_key=line, fingerprint=fingerprint)
        record_audit("allocations.ssh_key_add", actor=user, obj=key, after={"name": name, "fingerprint": fingerprint})
    return key


def remove_key(user, key_id) -> None:
    """Remove one of the user's own keys (404-like InvalidInput for anyone else's)."""
    from apps.core.audit import record_audit

    key = user_keys(user).filter(pk=int(key_id) if str(key_id).isdigit() else 0).first()
    if key is None:
        raise InvalidInput({"delete": ["No such key of yours."]})
    before = {"name": key.name, "fingerprint": key.fingerprint}
    record_audit("allocations.ssh_key_remove", actor=user, obj=key, before=before)
    key.delete()
