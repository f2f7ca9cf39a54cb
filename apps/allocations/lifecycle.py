"""What time does to allocations (run by the beat task `sweep`, callable with any `now`):
approved ones start, ones past their end expire and free their GPUs, requests never decided
lapse, and holders are reminded before the end (ALLOCATION_REMINDER_MINUTES)."""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.audit import record_audit
from apps.events.models import EventType, Severity
from apps.events.publish import publish

from . import transitions
from .models import Allocation
from .states import AllocationState as S

BATCH = 500


def _each(queryset, change) -> int:
    done = 0
    for pk in list(queryset.values_list("pk", flat=True)[:BATCH]):
        with transaction.atomic():
            allocation = Allocation.objects.select_for_update().filter(pk=pk).first()
            if allocation is not None and change(allocation):
                done += 1
    return done


def activate_due(now: dt.datetime) -> int:
    def start(allocation):
        if allocation.state != S.APPROVED or allocation.start > now or allocation.end <= now:
            return False
        transitions.move(allocation, S.ACTIVE, at=now)
        record_audit("allocations.activate", obj=allocation, after={"state": S.ACTIVE})
        return True
    return _each(Allocation.objects.filter(state=S.APPROVED, start__lte=now, end__gt=now), start)


def expire_due(now: dt.datetime) -> int:
    def end(allocation):
        if allocation.state not in (S.PENDING, S.APPROVED, S.ACTIVE) or allocation.end > now:
            return False
        before = allocation.state
        transitions.move(allocation, S.EXPIRED, at=now, note="never approved" if before == S.PENDING else "")
        record_audit("allocations.expire", obj=allocation, before={"state": before}, after={"state": S.EXPIRED})
        return True
    return _each(Allocation.objects.filter(state__in=[S.PENDING, S.APPROVED, S.ACTIVE], end__lte=now), end)


def remind_due(now: dt.datetime) -> int:
    """One allocation.ending event per allocation (again after an extension), through the event
    rules: webhooks and e-mail reach the holder's project."""
    lead = dt.timedelta(minutes=settings.ALLOCATION_REMINDER_MINUTES)
    due = Allocation.objects.filter(state=S.ACTIVE, reminded_at__isnull=True, end__gt=now, end__lte=now + lead)
    count = 0
    for allocation in due.select_related("project", "requester")[:BATCH]:
        with transaction.atomic():
            if not Allocation.objects.filter(pk=allocation.pk, reminded_at__isnull=True).update(reminded_at=now):
                continue  # another sweep reminded it
            minutes = int((allocation.end - now).total_seconds() // 60)
            publish(EventType.ALLOCATION_ENDING, allocation,
                    f"{allocation} of {allocation.requester} ends in {minutes} min ({allocation.end:%Y-%m-%d %H:%M} UTC)",
                    {"allocation": allocation.pk, "end": allocation.end.isoformat(), "minutes_left": minutes,
                     "requester": allocation.requester.username}, severity=Severity.WARNING, at=now)
            count += 1
    return count


def sweep(now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    return {"expired": expire_due(now), "activated": activate_due(now), "reminded": remind_due(now)}
