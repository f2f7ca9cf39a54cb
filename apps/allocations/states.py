"""The allocation state machine: states, which of them hold GPUs, and the legal transitions.

    pending -> approved -> active -> released | expired
    pending -> rejected | cancelled | expired (never decided before its end)
    approved -> cancelled | released | expired
A transition not in TRANSITIONS is refused (409 naming the current state).
"""
from django.db import models


class AllocationState(models.TextChoices):
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    ACTIVE = "active", "Active"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


S = AllocationState
# A pending request keeps its GPUs booked too: approving it never finds them gone.
HOLDING = frozenset({S.PENDING, S.APPROVED, S.ACTIVE})
FINAL = frozenset({S.RELEASED, S.EXPIRED, S.REJECTED, S.CANCELLED})

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.APPROVED, S.REJECTED, S.CANCELLED, S.EXPIRED}),
    S.APPROVED: frozenset({S.ACTIVE, S.CANCELLED, S.RELEASED, S.EXPIRED}),
    S.ACTIVE: frozenset({S.RELEASED, S.EXPIRED}),
    S.RELEASED: frozenset(), S.EXPIRED: frozenset(), S.REJECTED: frozenset(), S.CANCELLED: frozenset(),
}


def allowed(before: str, after: str) -> bool:
    return after in TRANSITIONS.get(before, frozenset())
