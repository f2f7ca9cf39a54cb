"""What a webhook or an e-mail says about an event (one JSON shape, documented in the README)."""
from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder

from .models import Event


def event_payload(event: Event, delivery_id: int | None = None) -> dict:
    ct = event.object_type
    return {
        "id": event.pk,
        "type": event.type,
        "severity": event.severity,
        "timestamp": event.timestamp.isoformat(),
        "message": event.message,
        "object": {"type": f"{ct.app_label}.{ct.model}" if ct else None, "id": event.object_id or None,
                   "repr": event.object_repr or None},
        "project": event.project.name if event.project_id else None,
        "labels": event.labels,
        "data": event.data,
        **({"delivery": delivery_id} if delivery_id is not None else {}),
    }


def body_bytes(payload: dict) -> bytes:
    """Compact, key-sorted JSON: the exact bytes that are signed and sent."""
    return json.dumps(payload, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":")).encode()
