"""Which enabled rules an event matches, and the deliveries that follow (run by a task)."""
from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import DeliveryState, Event, EventRule, Severity, WebhookDelivery


def matches(rule: EventRule, event: Event, object_label: str | None) -> bool:
    if rule.event_types and event.type not in rule.event_types:
        return False
    if rule.object_types and object_label not in rule.object_types:
        return False
    if rule.labels and not set(rule.labels) & set(event.labels or ()):
        return False
    if rule.project_id and rule.project_id != event.project_id:
        return False
    return Severity.rank(event.severity) >= Severity.rank(rule.min_severity)


def matching_rules(event: Event) -> list[EventRule]:
    if event.data.get("silenced"):  # a silenced alert's events are recorded, not announced
        return []
    ct = event.object_type
    label = f"{ct.app_label}.{ct.model}" if ct else None
    return [rule for rule in EventRule.objects.filter(enabled=True) if matches(rule, event, label)]


def dispatch(event_id: int) -> dict:
    """Create the deliveries of one event and queue them. Idempotent: a redelivered task finds the
    webhook deliveries already there (one per rule and event) and queues nothing twice."""
    from .tasks import deliver_webhook, send_email

    event = Event.objects.select_related("object_type").filter(pk=event_id).first()
    if event is None:
        return {"rules": 0}
    rules = matching_rules(event)
    webhooks, emails = [], []
    for rule in rules:
        if rule.webhook_url:
            try:
                with transaction.atomic():
                    delivery = WebhookDelivery.objects.create(rule=rule, event=event, url=rule.webhook_url,
                                                              state=DeliveryState.PENDING)
            except IntegrityError:
                continue
            webhooks.append(delivery.pk)
        if rule.email_recipients:
            emails.append(rule.pk)
    Event.objects.filter(pk=event.pk).update(dispatched_at=timezone.now())
    for pk in webhooks:
        deliver_webhook.delay(pk)
    for pk in emails:
        send_email.delay(pk, event.pk)
    return {"rules": len(rules), "webhooks": len(webhooks), "emails": len(emails)}
