"""Moving an allocation between states: the table's check, the event, the hook. The caller
writes the one audit entry of its change (a call may chain transitions, e.g. approved -> active)."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.core.errors import Conflict
from apps.events.models import EventType, Severity
from apps.events.publish import publish

from .models import Allocation, AllocationGpu
from .signals import allocation_changed
from .states import HOLDING, AllocationState, allowed

SEVERITY = {AllocationState.REJECTED: Severity.WARNING, AllocationState.EXPIRED: Severity.INFO}


def refuse_unless(allocation: Allocation, after: str, verb: str) -> None:
    if not allowed(allocation.state, after):
        raise Conflict(f"The allocation is {allocation.state}; it cannot be {verb}.", field="state")


def move(allocation: Allocation, after: str, *, actor=None, note: str = "", at=None) -> None:
    """Apply one transition (refused with 409 when the table forbids it)."""
    before = allocation.state
    if not allowed(before, after):
        raise Conflict(f"The allocation is {before}; it cannot become {after}.", field="state")
    at = at or timezone.now()
    allocation.state, allocation.state_changed_at = after, at
    Allocation.objects.filter(pk=allocation.pk).update(state=after, state_changed_at=at, updated_at=at)
    if after not in HOLDING:
        # The bookings stay as history; they no longer hold GPUs (nor count for the exclusion constraint).
        rows = AllocationGpu.objects.filter(allocation=allocation, holds=True)
        if allocation.start < at < allocation.end:
            rows.update(holds=False, end=at)
        else:
            rows.update(holds=False)
    who = getattr(actor, "username", None) or "system"
    publish(EventType.ALLOCATION_CHANGED, allocation,
            f"{allocation}: {before} -> {after} ({who}){': ' + note if note else ''}",
            {"allocation": allocation.pk, "before": before, "after": after, "by": who, "note": note[:300]},
            severity=SEVERITY.get(after, Severity.INFO), at=at)
    transaction.on_commit(lambda: allocation_changed.send(sender=Allocation, allocation=allocation,
                                                          before=before, after=after))
