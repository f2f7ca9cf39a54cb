"""Who is acting and from where, for the audit log, without passing the request everywhere.

`client_ip` is the one place that decides a request's client address: the audit log, one-time
token binding, DRF throttles and the login lockout (django-axes) all ask it.
"""
from __future__ import annotations

import contextvars
import functools
import ipaddress
import uuid
from dataclasses import dataclass

from django.conf import settings

from .ipnet import IPAddress, containing, unmapped

# A real proxy path is a few hops long; a longer header only costs work.
MAX_FORWARDED_HOPS = 20


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None


_current = contextvars.ContextVar("aimatrix_request_context", default=RequestContext())


def current() -> RequestContext:
    return _current.get()


def activate(request_id: str | None = None, ip: str | None = None) -> contextvars.Token:
    return _current.set(RequestContext(request_id or uuid.uuid4().hex, ip))


def deactivate(token: contextvars.Token) -> None:
    _current.reset(token)


def client_ip(meta: dict) -> str | None:
    """The client's address. The socket peer (REMOTE_ADDR), unless the peer is a trusted proxy
    (settings.TRUSTED_PROXIES): then the right-most X-Forwarded-For entry (else X-Real-IP) that
    is not itself a trusted proxy. Entries left of it were written by the client and prove
    nothing; walking stops at the first value that is not an address."""
    peer = parse_address(meta.get("REMOTE_ADDR"))
    if peer is None:
        return None
    trusted = _networks(tuple(settings.TRUSTED_PROXIES))
    if not _is_trusted(peer, trusted):
        return str(peer)
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    hops = forwarded.split(",")[-MAX_FORWARDED_HOPS:] if forwarded else [meta.get("HTTP_X_REAL_IP")]
    client = peer
    for raw in reversed(hops):
        hop = parse_address(raw)
        if hop is None:
            break
        client = hop
        if not _is_trusted(hop, trusted):
            break
    return str(client)


def request_client_ip(request) -> str | None:
    """client_ip for a request object (django-axes' AXES_CLIENT_IP_CALLABLE)."""
    return client_ip(getattr(request, "META", {}))


def parse_address(raw) -> IPAddress | None:
    """"203.0.113.7", "203.0.113.7:5120", "2001:db8::1", "[2001:db8::1]:443" -> the address;
    anything else (empty, "unknown", a host name, junk) -> None."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    return unmapped(address)


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _is_trusted(address: IPAddress, networks) -> bool:
    return bool(containing(address, networks))
