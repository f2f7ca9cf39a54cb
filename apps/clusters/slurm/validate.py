"""Validators for everything the portal puts into a Slurm command line.

Commands are argv lists, so nothing here is about shell quoting: a payload that passes stays one
inert argument. These checks keep each value meaning what the field says: a node name that is one
node (no '=' turning `NodeName=x State=IDLE` into two settings, no ',' or '[' widening it to a list),
a reason that reads back as one field, names Slurm itself accepts. Each failure raises
InvalidName(field, message) so a form can show it next to the field.
"""
from __future__ import annotations

import re
import unicodedata

from . import hostlist
from .errors import InvalidName, ParseError

_NODE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$")
_NODE_LIST = re.compile(r"^[A-Za-z0-9._\-\[\],]+$")
_PARTITION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_QOS = _ACCOUNT
_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
_JOB_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:+@-]{0,127}$")
_JOB_ID = re.compile(r"^\d{1,10}(?:_\d{1,10})?(?:\+\d{1,4})?$")
_GRES_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_FEATURE_EXPR = re.compile(r"^[A-Za-z0-9_.&|*()\[\]:,!-]{1,255}$")
_SIGNAL = re.compile(r"^(?:SIG)?[A-Z0-9]{2,8}$|^\d{1,2}$")
_PATH = re.compile(r"^/[^\0\n\r]*$")
MAX_REASON = 256
_FORBIDDEN_HINT = "; no spaces, quotes, '=', ';', '$', '`', '|', '&', brackets or control characters"


def _check(field: str, value, pattern: re.Pattern, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidName(field, f"{what} is required")
    if not pattern.match(value):
        raise InvalidName(field, f"{value[:80]!r} is not a valid {what}{_FORBIDDEN_HINT}")
    return value


def node_name(value: str, field: str = "node") -> str:
    """One Slurm node name: letters, digits, '.', '_', '-' (hostname-like), at most 63 characters."""
    return _check(field, value, _NODE, "Slurm node name (letters, digits, '.', '_', '-')")


def node_list(value, field: str = "nodes") -> str:
    """A list of exact node names (list or host-list text) -> compressed host-list text for argv.
    Every expanded name must itself be valid."""
    names = value if isinstance(value, (list, tuple, set)) else None
    if names is None:
        _check(field, value, _NODE_LIST, "node list")
        try:
            names = hostlist.expand(value)
        except ParseError as exc:
            raise InvalidName(field, str(exc)) from None
    if not names:
        raise InvalidName(field, "at least one node is required")
    for name in names:
        node_name(name, field)
    return hostlist.compress(names)


def partition_name(value: str, field: str = "partition") -> str:
    return _check(field, value, _PARTITION, "partition name")


def account_name(value: str, field: str = "account") -> str:
    return _check(field, value, _ACCOUNT, "Slurm account name")


def qos_name(value: str, field: str = "qos") -> str:
    return _check(field, value, _QOS, "QOS name")


def user_name(value: str, field: str = "user") -> str:
    """A POSIX login name (what `sudo -u` and Slurm accept): lower case, digits, '_', '.', '-'."""
    return _check(field, value, _USER, "user name (lower-case letters, digits, '_', '.', '-'; starts with a letter)")


def job_name(value: str, field: str = "name") -> str:
    return _check(field, value, _JOB_NAME, "job name (letters, digits, '_', '.', ':', '+', '@', '-')")


def job_id(value, field: str = "job_id") -> str:
    """'42', '41_3' (array task), '40+1' (het job component)."""
    return _check(field, str(value), _JOB_ID, "job id")


def gres_type(value: str, field: str = "gpu_type") -> str:
    return _check(field, value, _GRES_TYPE, "GPU type")


def feature_expression(value: str, field: str = "constraint") -> str:
    return _check(field, value, _FEATURE_EXPR, "feature expression")


def signal_name(value: str, field: str = "signal") -> str:
    return _check(field, str(value).upper(), _SIGNAL, "signal (e.g. TERM, USR1, 15)")


def path(value: str, field: str = "path") -> str:
    """An absolute path without control characters; Slurm's %j-style patterns are kept."""
    if not isinstance(value, str) or not _PATH.match(value) or _has_control(value):
        raise InvalidName(field, "an absolute path without control characters is required")
    if len(value) > 1024:
        raise InvalidName(field, "path longer than 1024 characters")
    return value


def reason(value: str, field: str = "reason", *, required: bool = True) -> str:
    """A node reason: printable text, one line, no '=' or '|' (Slurm prints it back inside
    `Key=value` and '|'-separated output, where either would read as another field)."""
    if value is not None and not isinstance(value, str):
        raise InvalidName(field, "text is required")
    if _has_control(value or ""):  # before strip(): it would quietly drop a U+2028 or a trailing newline
        raise InvalidName(field, f"the {field} must be one line of printable text (no control characters)")
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidName(field, "a reason is required (Slurm shows it to users and operators)")
        return ""
    if "=" in text or "|" in text:
        raise InvalidName(field, f"the {field} may not contain '=' or '|' (Slurm would print it as another field)")
    if len(text) > MAX_REASON:
        raise InvalidName(field, f"the {field} is longer than {MAX_REASON} characters")
    return text


def comment(value: str, field: str = "comment") -> str:
    """Free text stored with a job: same rules as a reason."""
    return reason(value, field, required=False)


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def positive(value, field: str, *, maximum: int = 10 ** 9, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidName(field, "a whole number is required")
    if value < (0 if allow_zero else 1) or value > maximum:
        raise InvalidName(field, f"must be between {0 if allow_zero else 1} and {maximum}")
    return value


def tres_key(value: str, field: str = "tres") -> str:
    """'cpu', 'mem', 'node', 'gres/gpu', 'gres/gpu:a100', 'license/matlab'."""
    return _check(field, value, re.compile(r"^[a-z]+(?:/[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)?)?$"), "TRES name")
