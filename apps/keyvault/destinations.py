"""Destination-bound secrets: each secret names where its value may be sent.

Entries are CIDRs ("10.20.0.0/16", "10.20.0.5") or host names ("bmc01.example.org", or
"*.bmc.example.org" for every name under that domain). A host name entry matches the name a
node or BMC is registered with; a CIDR entry matches the addresses that name resolves to. An
address is allowed when the name matches, or when every address it resolves to lies inside a
CIDR entry. Checked when a secret is bound (apps.nodes.services) and again on the resolved
address right before a job connects (apps.nodes.remote), so neither a later rename nor a DNS
change sends a credential elsewhere.
"""
from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from apps.core.ipnet import containing, parse_network, unmapped

MAX_ENTRIES = 64
_NAME = re.compile(r"^(\*\.)?(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


class DestinationRefused(ValueError):
    """The secret may not be sent to this address; the message names both."""


def _network(entry: str):
    try:
        return parse_network(entry)
    except ValueError:
        return None


def validate_destinations(value) -> None:
    if not isinstance(value, list) or len(value) > MAX_ENTRIES:
        raise ValidationError(f"A list of at most {MAX_ENTRIES} CIDRs or host names.", code="invalid_destinations")
    for entry in value:
        if not isinstance(entry, str) or len(entry) > 253 or (_network(entry) is None and not _NAME.fullmatch(entry)):
            raise ValidationError(f"{str(entry)[:60]!r} is neither a CIDR nor a host name.", code="invalid_destinations")


def normalise(entries) -> list[str]:
    """Canonical form: networks as CIDR strings, names lower-case, no duplicates."""
    validate_destinations(entries)
    out = []
    for entry in entries:
        net = _network(entry)
        text = str(net) if net is not None else entry.lower().rstrip(".")
        if text not in out:
            out.append(text)
    return out


def _name_matches(entry: str, host: str) -> bool:
    host = host.lower().rstrip(".")
    if entry.startswith("*."):
        return host.endswith(entry[1:]) and len(host) > len(entry) - 1
    return host == entry


def check(secret_name: str, entries: list[str], host: str, addresses) -> None:
    """Refuse unless `host` (resolved to `addresses`) lies within `entries`."""
    if any(_network(e) is None and _name_matches(e, host) for e in entries):
        return
    networks = [n for n in (_network(e) for e in entries) if n is not None]
    outside = [ip for ip in addresses if not containing(unmapped(ip), networks)]
    if addresses and not outside:
        return
    shown = host if [str(a) for a in addresses] == [host] else \
        f"{host} ({', '.join(str(a) for a in (outside or addresses))})"
    allowed = ", ".join(entries) or "none"
    raise DestinationRefused(f"Secret {secret_name!r} may not be sent to {shown}: outside its destinations "
                             f"({allowed}).")
