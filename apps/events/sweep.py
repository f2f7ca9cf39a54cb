"""The events sweep (beat): work whose task was lost is queued again, never silently dropped.

- events whose rule matching never ran (the broker was down when they were published, or the
  task was lost) and that are older than EVENTS_SWEEP_GRACE seconds;
- webhook deliveries waiting for a retry whose time passed more than the grace ago (the retry
  task was lost), and pending ones that never got their first attempt.
Both are bounded per run; matching is idempotent (one delivery per rule and event) and a delivery
task only acts on a pending or retrying delivery, so a sweep that races a late task does no harm.
Events older than EVENTS_SWEEP_MAX_AGE are left alone: a day-old alert announced now helps no one.
"""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .models import DeliveryState, Event, WebhookDelivery

BATCH = 500


def sweep(now: dt.datetime | None = None) -> dict:
    from .tasks import deliver_webhook, match_event

    now = now or timezone.now()
    grace = now - dt.timedelta(seconds=settings.EVENTS_SWEEP_GRACE)
    oldest = now - dt.timedelta(seconds=settings.EVENTS_SWEEP_MAX_AGE)
    events = list(Event.objects.filter(dispatched_at__isnull=True, timestamp__lt=grace, timestamp__gte=oldest)
                  .order_by("id").values_list("pk", flat=True)[:BATCH])
    stale = Q(state=DeliveryState.RETRYING, next_attempt_at__lt=grace) | Q(state=DeliveryState.PENDING,
                                                                          created_at__lt=grace)
    deliveries = list(WebhookDelivery.objects.filter(stale, created_at__gte=oldest)
                      .order_by("id").values_list("pk", flat=True)[:BATCH])
    for pk in events:
        match_event.delay(pk)
    for pk in deliveries:
        deliver_webhook.delay(pk)
    return {"events": len(events), "deliveries": len(deliveries)}
