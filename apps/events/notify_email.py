"""E-mail notifications through Django's e-mail backend (EMAIL_BACKEND and friends)."""
from __future__ import annotations

import json

from django.conf import settings
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder

from .models import Event, EventRule
from .payload import event_payload


def send_event_email(rule: EventRule, event: Event) -> int:
    subject = f"[AI Infra Matrix] {event.get_severity_display()}: {event.get_type_display()} - {event.object_repr or 'fleet'}"
    payload = event_payload(event)
    body = "\n".join([
        event.message, "",
        f"Type:      {event.get_type_display()} ({event.type})",
        f"Severity:  {event.get_severity_display()}",
        f"Object:    {event.object_repr or '-'}",
        f"Project:   {payload['project'] or '-'}",
        f"Time:      {event.timestamp.isoformat()}",
        f"Rule:      {rule.name}", "",
        json.dumps(payload["data"], cls=DjangoJSONEncoder, indent=2, sort_keys=True),
    ])
    return send_mail(subject[:200], body, settings.EVENTS_EMAIL_FROM, list(rule.email_recipients), fail_silently=False)
