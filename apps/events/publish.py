"""`publish(type, obj, message, data)`: the one way an event is recorded.

Apps above this one (nodes, gpus) call it; apps below (jobs) send signals this app listens to.
The event row is written in the caller's transaction; rule matching (and so every webhook and
e-mail) is queued after that transaction commits, so nothing is announced that was rolled back.
"""
from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from apps.core.contenttypes import content_type_for

from .models import Event, EventType, Severity

logger = logging.getLogger(__name__)
MAX_LABELS = 64


def project_of(obj):
    """The object's project, by the path its model declares for the permission layer."""
    path = getattr(type(obj), "rbac_project_field", None)
    value = obj
    for part in (path or "").split("__"):
        if not part or value is None:
            return None
        value = getattr(value, part, None)
    return value if path else None


def _labels_of(obj) -> list[str]:
    """The object's labels, and its node's (a GPU's rack or pool labels sit on its node)."""
    labels = list(getattr(obj, "labels", None) or [])
    labels += getattr(getattr(obj, "node", None), "labels", None) or []
    return list(dict.fromkeys(str(x)[:100] for x in labels))[:MAX_LABELS]


def publish(type: str, obj=None, message: str = "", data: dict | None = None, *, severity: str = Severity.INFO,
            project=..., labels=None, at=None) -> Event:
    """Record an event of `type` (EventType) about `obj` (any model row, or None for the fleet)."""
    EventType(type)  # unknown types are a programming error
    event = Event(type=type, severity=Severity(severity), message=(message or type)[:500], data=data or {},
                  timestamp=at or timezone.now())
    if obj is not None:
        event.object_type = content_type_for(obj)
        event.object_id = str(obj.pk)
        event.object_repr = str(obj)[:200]
        event.labels = _labels_of(obj) if labels is None else list(labels)[:MAX_LABELS]
    elif labels is not None:
        event.labels = list(labels)[:MAX_LABELS]
    project = project_of(obj) if project is ... and obj is not None else (None if project is ... else project)
    event.project_id = getattr(project, "pk", project)
    event.save()
    transaction.on_commit(lambda: _queue_matching(event.pk))
    return event


def _queue_matching(event_id: int) -> None:
    from .tasks import match_event

    try:
        match_event.delay(event_id)
    except Exception:  # the broker is down: the event is stored; its notifications are lost, say so
        logger.exception("events: could not queue rule matching for event %s", event_id)
