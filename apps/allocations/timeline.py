"""The fleet timeline: bookings of the allocations a user may see, one row per GPU (grouped by
node), over a window, as server-rendered SVG geometry (no JavaScript). Each bar carries its text
(allocation, project, state, window) as a visible label where it fits and always as its <title>;
the same bookings are listed in a table under the chart.

Only GPUs with a booking in the window get a row (a fleet of thousands of GPUs stays readable);
at most MAX_ROWS rows, the rest counted. Two queries whatever the number of bookings.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from apps.core.errors import InvalidInput

from .models import AllocationGpu
from .states import AllocationState as S

MAX_ROWS = 200
MAX_DAYS = 62
LABEL_W, CHART_W, ROW_H, HEAD_H = 170, 900, 22, 28
SHOWN_STATES = (S.PENDING, S.APPROVED, S.ACTIVE, S.RELEASED, S.EXPIRED)
FILL = {S.PENDING: "#f0ad4e", S.APPROVED: "#5bc0de", S.ACTIVE: "#198754", S.RELEASED: "#6c757d",
        S.EXPIRED: "#adb5bd"}
TEXT_FILL = {S.PENDING: "#000", S.APPROVED: "#000", S.EXPIRED: "#000"}


@dataclass
class Bar:
    allocation_id: int
    project: str
    requester: str
    state: str
    start: dt.datetime
    end: dt.datetime
    x: float
    w: float
    label: str
    title: str
    fill: str
    text_fill: str
    url: str


@dataclass
class Row:
    gpu_id: int
    node: str
    index: int
    y: float
    bars: list = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.node}/gpu{self.index}"


def window(start_text: str | None, days_text: str | None, now=None) -> tuple[dt.datetime, dt.datetime]:
    now = now or timezone.now()
    try:
        days = int(days_text) if days_text else 7
    except ValueError:
        raise InvalidInput({"days": ["A whole number of days."]}) from None
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput({"days": [f"Between 1 and {MAX_DAYS} days."]})
    if start_text:
        try:
            day = dt.date.fromisoformat(start_text)
        except ValueError:
            raise InvalidInput({"start": ["A date as YYYY-MM-DD."]}) from None
        start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    else:
        start = (now - dt.timedelta(days=1)).astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0,
                                                                                microsecond=0)
    return start, start + dt.timedelta(days=days)


def bookings(allocations, start, end, *, cluster_id=None, node_name="", project_id=None):
    rows = (AllocationGpu.objects.filter(allocation__in=allocations.values("pk"), allocation__state__in=SHOWN_STATES,
                                         gpu__isnull=False, start__lt=end, end__gt=start)
            .select_related("gpu__node", "allocation__project", "allocation__requester")
            .order_by("gpu__node__name", "gpu__index", "start"))
    if cluster_id:
        rows = rows.filter(gpu__node__cluster_member__cluster_id=cluster_id)
    if node_name:
        rows = rows.filter(gpu__node__name=node_name)
    if project_id:
        rows = rows.filter(allocation__project_id=project_id)
    return rows


def _x(t: dt.datetime, start: dt.datetime, span: float) -> float:
    return LABEL_W + max(0.0, min(1.0, (t - start).total_seconds() / span)) * CHART_W


def build(rows, start: dt.datetime, end: dt.datetime) -> dict:
    """Geometry of the chart: rows with bars, day ticks, the 'now' line, sizes."""
    span = (end - start).total_seconds()
    by_gpu: dict[int, Row] = {}
    hidden = set()
    for booking in rows:
        gpu = booking.gpu
        row = by_gpu.get(gpu.pk)
        if row is None:
            if len(by_gpu) >= MAX_ROWS:
                hidden.add(gpu.pk)
                continue
            row = by_gpu[gpu.pk] = Row(gpu_id=gpu.pk, node=gpu.node.name, index=gpu.index,
                                       y=HEAD_H + len(by_gpu) * ROW_H)
        allocation = booking.allocation
        x0, x1 = _x(booking.start, start, span), _x(booking.end, start, span)
        name = f"#{allocation.pk} {allocation.project.name}"
        title = (f"Allocation {allocation.pk} of {allocation.project.name} ({allocation.requester.username}), "
                 f"{allocation.get_state_display().lower()}, {booking.start:%Y-%m-%d %H:%M} – "
                 f"{booking.end:%Y-%m-%d %H:%M} UTC, {row.label}")
        row.bars.append(Bar(allocation_id=allocation.pk, project=allocation.project.name,
                            requester=allocation.requester.username, state=allocation.state, start=booking.start,
                            end=booking.end, x=round(x0, 1), w=round(max(x1 - x0, 2.0), 1),
                            label=name if x1 - x0 >= 7 * len(name) else "", title=title,
                            fill=FILL.get(allocation.state, "#6c757d"),
                            text_fill=TEXT_FILL.get(allocation.state, "#fff"), url=allocation.get_absolute_url()))
    ticks = []
    day = start
    days = max(1, round(span / 86400))
    step = 1 if days <= 14 else 7
    while day < end:
        ticks.append({"x": round(_x(day, start, span), 1), "label": f"{day:%m-%d}"})
        day += dt.timedelta(days=step)
    now = timezone.now()
    return {"rows": list(by_gpu.values()), "hidden": len(hidden), "ticks": ticks,
            "now_x": round(_x(now, start, span), 1) if start <= now < end else None,
            "width": LABEL_W + CHART_W + 10, "height": HEAD_H + (len(by_gpu) + 1) * ROW_H,
            "label_w": LABEL_W, "row_h": ROW_H, "bar_h": ROW_H - 6, "head_h": HEAD_H, "start": start, "end": end}
