"""Reserved against used GPU-hours of allocations, from the GPU telemetry rollups.

Definitions (also shown on the usage page):
- allocated GPU-hours: for each booked GPU, the hours of its booking that have passed while the
  allocation held it (start to release, expiry or now), clipped to the report's month;
- mean utilization: the sample-weighted mean of the GPU's utilization (nvidia-smi
  utilization.gpu, %) over those hours: raw samples for windows up to ALLOCATION_USAGE_RAW_HOURS
  (default 6), else the 1-minute rollups (minutes overlapping the window), and the 1-hour rollups
  for hours older than the minute rollups' retention;
- used GPU-hours: allocated GPU-hours x mean utilization / 100 (a GPU busy at 50 % for 2 h used
  1 GPU-hour); idle GPU-hours: allocated minus used;
- unmeasured GPU-hours: allocated hours of GPUs without any telemetry in the window: counted as
  allocated but neither used nor idle, so a telemetry outage is visible and never blamed on a team.

One query per report, whatever the number of allocations (correlated subqueries per booking).
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db.models import (Case, Count, DateTimeField, DurationField, ExpressionWrapper, F, FloatField, IntegerField,
                              OuterRef, Q, Subquery, Sum, Value, When)
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

from apps.core.errors import InvalidInput
from apps.gpus.models import GpuRollup1h, GpuRollup1m, GpuSample

from .models import AllocationGpu
from .states import AllocationState as S

DEFINITION = ("Allocated: GPU-hours booked and elapsed while held. Used: allocated x mean GPU utilization "
              "(from the GPU telemetry) / 100. Idle: allocated - used. Unmeasured: allocated hours of "
              "GPUs without telemetry in the window (neither used nor idle).")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
HELD = (S.ACTIVE, S.RELEASED, S.EXPIRED)


def month_window(text: str) -> tuple[dt.datetime, dt.datetime]:
    match = _MONTH.match(text or "")
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise InvalidInput({"month": ["Give the month as YYYY-MM, e.g. 2026-11."]})
    year, month = int(match.group(1)), int(match.group(2))
    start = dt.datetime(year, month, 1, tzinfo=dt.timezone.utc)
    days = calendar.monthrange(year, month)[1]
    return start, start + dt.timedelta(days=days)


def this_month(now=None) -> str:
    return (now or timezone.now()).astimezone(dt.timezone.utc).strftime("%Y-%m")


def _telemetry(model, lo, hi):
    """(sum of util x samples, samples with util) of the booking's GPU in the buckets that overlap
    [lo, hi) (`lo` already moved back by one bucket: a minute that starts before the booking
    but ends inside it counts)."""
    rows = (model.objects.filter(gpu_id=OuterRef("gpu_id"), bucket__gt=OuterRef(lo), bucket__lt=OuterRef(hi))
            .order_by().values("gpu_id"))
    weighted = rows.annotate(w=Sum(F("utilization_pct_avg") * F("samples"), output_field=FloatField())).values("w")
    counted = rows.annotate(n=Sum("samples", filter=Q(utilization_pct_avg__isnull=False))).values("n")
    return (Coalesce(Subquery(weighted, output_field=FloatField()), Value(0.0)),
            Coalesce(Subquery(counted, output_field=IntegerField()), Value(0)))


def _raw(lo, hi):
    """(sum of util, samples with util) of the booking's GPU's raw samples in [lo, hi)."""
    rows = (GpuSample.objects.filter(gpu_id=OuterRef("gpu_id"), ts__gte=OuterRef(lo), ts__lt=OuterRef(hi))
            .order_by().values("gpu_id"))
    weighted = rows.annotate(w=Sum("utilization_pct", output_field=FloatField())).values("w")
    counted = rows.annotate(n=Count("utilization_pct")).values("n")
    return (Coalesce(Subquery(weighted, output_field=FloatField()), Value(0.0)),
            Coalesce(Subquery(counted, output_field=IntegerField()), Value(0)))


def _at(expr):
    return ExpressionWrapper(expr, output_field=DateTimeField())


def bookings(queryset_of_rows, start: dt.datetime | None, end: dt.datetime | None, now: dt.datetime):
    """AllocationGpu rows annotated with the clipped window (ws, we) and telemetry sums: raw samples
    for short windows (exact to the second), minute rollups for long ones, hour rollups for the
    part older than the minute rollups' retention. A source not used gets an empty range."""
    cutoff = (now - dt.timedelta(days=settings.GPU_SAMPLE_RETENTION_DAYS)).replace(minute=0, second=0, microsecond=0)
    raw_span = dt.timedelta(hours=getattr(settings, "ALLOCATION_USAGE_RAW_HOURS", 6.0))
    ws = Greatest(F("start"), Value(start, output_field=DateTimeField())) if start else F("start")
    we = Least(F("end"), Value(min(end, now) if end else now, output_field=DateTimeField()))
    rows = queryset_of_rows.annotate(ws=ws, we=we)
    rows = rows.annotate(span=ExpressionWrapper(F("we") - F("ws"), output_field=DurationField()))
    short = Q(span__lte=raw_span)
    rows = rows.annotate(
        rlo=Case(When(short, then=F("ws")), default=F("we"), output_field=DateTimeField()),
        mlo_b=Case(When(short, then=F("we")),
                   default=_at(Greatest(F("ws"), Value(cutoff, output_field=DateTimeField())) - Value(dt.timedelta(minutes=1))),
                   output_field=DateTimeField()),
        ws_b=_at(F("ws") - Value(dt.timedelta(hours=1))),
        hhi=Least(F("we"), Value(cutoff, output_field=DateTimeField())))
    r_w, r_n = _raw("rlo", "we")
    m_w, m_n = _telemetry(GpuRollup1m, "mlo_b", "we")
    h_w, h_n = _telemetry(GpuRollup1h, "ws_b", "hhi")
    return rows.annotate(r_w=r_w, r_n=r_n, m_w=m_w, m_n=m_n, h_w=h_w, h_n=h_n)


@dataclass
class Usage:
    allocated_gpu_hours: float = 0.0
    used_gpu_hours: float = 0.0
    idle_gpu_hours: float = 0.0
    unmeasured_gpu_hours: float = 0.0
    mean_utilization_pct: float | None = None
    gpus: int = 0
    _util_hours: float = field(default=0.0, repr=False)

    def add(self, hours: float, util: float | None) -> None:
        self.gpus += 1
        self.allocated_gpu_hours += hours
        if util is None:
            self.unmeasured_gpu_hours += hours
            return
        used = hours * util / 100
        self.used_gpu_hours += used
        self.idle_gpu_hours += hours - used
        self._util_hours += hours

    def merge(self, other: "Usage") -> None:
        for name in ("allocated_gpu_hours", "used_gpu_hours", "idle_gpu_hours", "unmeasured_gpu_hours",
                     "_util_hours"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.gpus += other.gpus

    def as_dict(self) -> dict:
        mean = 100 * self.used_gpu_hours / self._util_hours if self._util_hours else None
        out = {k: round(v, 3) for k, v in asdict(self).items() if isinstance(v, float) and not k.startswith("_")}
        out.update(gpus=self.gpus, mean_utilization_pct=None if mean is None else round(mean, 1))
        return out


def _util(row) -> float | None:
    n = (row.r_n or 0) + (row.m_n or 0) + (row.h_n or 0)
    return ((row.r_w or 0) + (row.m_w or 0) + (row.h_w or 0)) / n if n else None


def _per_allocation(rows) -> dict[int, Usage]:
    out: dict[int, Usage] = {}
    for row in rows:
        hours = max((row.we - row.ws).total_seconds(), 0) / 3600
        if hours <= 0:
            continue
        out.setdefault(row.allocation_id, Usage()).add(hours, _util(row))
    return out


def _held_rows(allocations):
    # A request that lapsed while pending never held its GPUs (needed approval, never decided).
    never_held = Q(allocation__state=S.EXPIRED, allocation__decided_by__isnull=True) & ~Q(allocation__approval_reason="")
    return AllocationGpu.objects.filter(allocation__in=allocations, allocation__state__in=HELD,
                                        gpu__isnull=False).exclude(never_held)


def of_allocation(allocation, now=None) -> dict:
    """Usage of one allocation over its whole window so far."""
    now = now or timezone.now()
    rows = bookings(_held_rows([allocation.pk]), None, None, now)
    found = _per_allocation(rows).get(allocation.pk, Usage())
    return {**found.as_dict(), "definition": DEFINITION}


def report(allocations, month: str, now=None) -> dict:
    """Per project (and per allocation in it) usage of `allocations` (a queryset the caller may see)
    during `month` (YYYY-MM)."""
    now = now or timezone.now()
    start, end = month_window(month)
    in_month = allocations.filter(start__lt=end, end__gt=start)
    rows = bookings(_held_rows(in_month.values("pk")).filter(start__lt=end, end__gt=start), start, end, now)
    rows = rows.select_related("allocation__project", "allocation__requester").order_by(
        "allocation__project__name", "allocation_id")
    rows = list(rows)
    meta = {row.allocation_id: row.allocation for row in rows}
    per = _per_allocation(rows)
    projects: dict[str, dict] = {}
    for allocation_id, usage in per.items():
        allocation = meta[allocation_id]
        entry = projects.setdefault(allocation.project.name, {"project": allocation.project.name,
                                                              "total": Usage(), "allocations": []})
        entry["total"].merge(usage)
        entry["allocations"].append({"id": allocation_id, "requester": allocation.requester.username,
                                     "state": allocation.state, "start": allocation.start, "end": allocation.end,
                                     **usage.as_dict()})
    out = []
    for name in sorted(projects):
        entry = projects[name]
        out.append({"project": name, **entry["total"].as_dict(), "allocations": entry["allocations"]})
    return {"month": month, "definition": DEFINITION, "projects": out}


CSV_COLUMNS = ("project", "allocation", "requester", "state", "gpus", "allocated_gpu_hours", "used_gpu_hours",
               "idle_gpu_hours", "unmeasured_gpu_hours", "mean_utilization_pct")


def csv_rows(data: dict):
    yield CSV_COLUMNS
    for project in data["projects"]:
        for a in project["allocations"]:
            yield (project["project"], a["id"], a["requester"], a["state"], a["gpus"], a["allocated_gpu_hours"],
                   a["used_gpu_hours"], a["idle_gpu_hours"], a["unmeasured_gpu_hours"], a["mean_utilization_pct"])
        yield (project["project"], "total", "", "", project["gpus"], project["allocated_gpu_hours"],
               project["used_gpu_hours"], project["idle_gpu_hours"], project["unmeasured_gpu_hours"],
               project["mean_utilization_pct"])
