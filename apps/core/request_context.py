"""Who is acting and from where, for the audit log, without passing the request everywhere."""
from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass


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
    # REMOTE_ADDR only: X-Forwarded-For is trusted solely when a proxy is configured to set it.
    return meta.get("REMOTE_ADDR") or None
