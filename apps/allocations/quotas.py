"""Per-project quotas: GPUs held at once and GPU-hours per calendar month (UTC).

`check()` answers which limit a request would exceed (a message naming it), or None. Counted:
the project's allocations that hold GPUs (pending, approved, active), and for GPU-hours also the
ended ones up to when they ended (a release stops the clock).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .models import Allocation, OverQuota, ProjectQuota
from .states import HOLDING, AllocationState


@dataclass(frozen=True)
class Limits:
    concurrent_gpus: int | None
    gpu_hours_per_month: int | None
    over_quota: str = OverQuota.APPROVAL


@dataclass(frozen=True)
class Excess:
    field: str
    message: str
    refuse: bool


def limits_of(project) -> Limits:
    quota = ProjectQuota.objects.filter(project=project).first()
    if quota:
        return Limits(quota.concurrent_gpus, quota.gpu_hours_per_month, quota.over_quota)
    return Limits(project.gpu_quota, project.gpu_hours_quota)


def _month_bounds(at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    first = at.astimezone(dt.timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    return first, nxt


def _months(start, end):
    month_start, month_end = _month_bounds(start)
    while month_start < end:
        yield month_start, month_end
        month_start, month_end = _month_bounds(month_end)


def _hours_in(start, end, lo, hi) -> float:
    return max(0.0, (min(end, hi) - max(start, lo)).total_seconds() / 3600)


def ended_at(allocation: Allocation) -> dt.datetime:
    """When the allocation stops counting: its end, or when it was released, whichever is first."""
    if allocation.state in (AllocationState.RELEASED, AllocationState.CANCELLED, AllocationState.REJECTED) \
            and allocation.state_changed_at:
        return max(allocation.start, min(allocation.end, allocation.state_changed_at))
    return allocation.end


def check(project, gpu_count: int, start, end, *, exclude_id: int | None = None) -> Excess | None:
    limits = limits_of(project)
    refuse = limits.over_quota == OverQuota.REFUSE
    others = Allocation.objects.filter(project=project).exclude(pk=exclude_id)
    if limits.concurrent_gpus is not None:
        held = sum(others.filter(state__in=HOLDING, start__lt=end, end__gt=start)
                   .values_list("gpu_count", flat=True))
        if held + gpu_count > limits.concurrent_gpus:
            return Excess("gpu_count", f"exceeds the project's quota of {limits.concurrent_gpus} GPUs at once "
                                       f"({held} held in this window + {gpu_count} requested)", refuse)
    if limits.gpu_hours_per_month is not None:
        counted = list(others.filter(state__in=HOLDING | {AllocationState.RELEASED, AllocationState.EXPIRED},
                                     start__lt=end).only("start", "end", "state", "state_changed_at", "gpu_count"))
        for lo, hi in _months(start, end):
            used = sum(a.gpu_count * _hours_in(a.start, ended_at(a), lo, hi) for a in counted)
            wanted = gpu_count * _hours_in(start, end, lo, hi)
            if used + wanted > limits.gpu_hours_per_month:
                return Excess("end", f"exceeds the project's quota of {limits.gpu_hours_per_month} GPU-hours in "
                                     f"{lo:%Y-%m} ({used:.0f} used or booked + {wanted:.0f} requested)", refuse)
    return None
