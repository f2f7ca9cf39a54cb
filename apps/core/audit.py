"""The one function every app calls on every change: record_audit()."""
from __future__ import annotations

import logging
from typing import Any

from django.db import models

from . import request_context
from .contenttypes import content_type_for
from .models import AuditEvent

logger = logging.getLogger("aimatrix.audit")


def record_audit(
    action: str,
    *,
    actor=None,
    obj: models.Model | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write an audit entry. Callers pass only non-secret fields in before/after."""
    ctx = request_context.current()
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    changes = {}
    if before is not None:
        changes["before"] = before
    if after is not None:
        changes["after"] = after
    event = AuditEvent.objects.create(
        actor=actor if is_user else None,
        actor_repr=actor.get_username() if is_user else "system",
        action=action,
        object_type=content_type_for(obj) if obj is not None else None,
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        changes=changes,
        ip=ctx.ip,
        request_id=ctx.request_id,
    )
    logger.info("audit %s by %s on %s", action, event.actor_repr, event.object_repr or "-")
    return event


CHANGE_LOG_SIZE = 20


def change_log(user, obj: models.Model, limit: int = CHANGE_LOG_SIZE) -> list[AuditEvent] | None:
    """The latest audit entries about `obj` for a detail page's Change log tab; None when the user
    may not read the audit log (the tab then says so instead of showing nothing)."""
    if not user.has_perm("core.view_auditevent"):
        return None
    return list(AuditEvent.objects.filter(object_type=content_type_for(obj), object_id=str(obj.pk))
                .order_by("-timestamp", "-id")[:limit])
