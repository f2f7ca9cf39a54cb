"""1-minute and 1-hour GPU rollups, which charts read instead of the raw series.

Beat recomputes the minutes of the last GPU_ROLLUP_LOOKBACK_MINUTES from the samples and the
hours those minutes touch from the minute rows (averages weighted by sample counts), upserting:
a run is idempotent, and a late sample within the look-back is counted on the next run.
"""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Avg, Count, F, Max, Q, Sum
from django.db.models.functions import TruncHour, TruncMinute
from django.utils import timezone

from .models import GPU_METRICS, GpuRollup1h, GpuRollup1m, GpuSample

STAT_FIELDS = [f"{m}_{s}" for m in GPU_METRICS for s in ("avg", "max")]
UPSERT_BATCH = 2_000


def _upsert(model, rows: list) -> int:
    model.objects.bulk_create(rows, batch_size=UPSERT_BATCH, update_conflicts=True, unique_fields=["gpu", "bucket"],
                              update_fields=["samples", *STAT_FIELDS])
    return len(rows)


def roll_minutes(start: dt.datetime, end: dt.datetime) -> int:
    """Minute rows for samples in [start, end) (start is truncated to its minute)."""
    start = start.replace(second=0, microsecond=0)
    stats = {f"{m}_avg": Avg(m) for m in GPU_METRICS} | {f"{m}_max": Max(m) for m in GPU_METRICS}
    rows = (GpuSample.objects.filter(ts__gte=start, ts__lt=end)
            .annotate(bucket=TruncMinute("ts", tzinfo=dt.timezone.utc)).values("gpu_id", "bucket")
            .annotate(samples=Count("id"), **stats).order_by())
    return _upsert(GpuRollup1m, [GpuRollup1m(**row) for row in rows])


def roll_hours(start: dt.datetime, end: dt.datetime) -> int:
    """Hour rows from the minute rows in [start, end) (start is truncated to its hour)."""
    start = start.replace(minute=0, second=0, microsecond=0)
    sums = {}
    for m in GPU_METRICS:
        # sum(avg * samples) / sum(samples): the hour's true average, not an average of averages.
        sums[f"{m}_wsum"] = Sum(F(f"{m}_avg") * F("samples"))
        sums[f"{m}_n"] = Sum("samples", filter=Q(**{f"{m}_avg__isnull": False}))
        sums[f"{m}_max"] = Max(f"{m}_max")
    rows = (GpuRollup1m.objects.filter(bucket__gte=start, bucket__lt=end)
            .annotate(hour=TruncHour("bucket", tzinfo=dt.timezone.utc)).values("gpu_id", "hour")
            .annotate(total=Sum("samples"), **sums).order_by())
    out = []
    for row in rows:
        values = {"gpu_id": row["gpu_id"], "bucket": row["hour"], "samples": row["total"] or 0}
        for m in GPU_METRICS:
            n = row[f"{m}_n"]
            values[f"{m}_avg"] = row[f"{m}_wsum"] / n if n else None
            values[f"{m}_max"] = row[f"{m}_max"]
        out.append(GpuRollup1h(**values))
    return _upsert(GpuRollup1h, out)


def roll_recent(now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    start = now - dt.timedelta(minutes=settings.GPU_ROLLUP_LOOKBACK_MINUTES)
    minutes = roll_minutes(start, now)
    hours = roll_hours(start, now + dt.timedelta(hours=1))
    return {"minutes": minutes, "hours": hours}


def drop_old(now: dt.datetime | None = None) -> dict:
    """Minute rollups live as long as samples; hour rollups ten times as long."""
    now = now or timezone.now()
    days = settings.GPU_SAMPLE_RETENTION_DAYS
    minutes, _ = GpuRollup1m.objects.filter(bucket__lt=now - dt.timedelta(days=days)).delete()
    hours, _ = GpuRollup1h.objects.filter(bucket__lt=now - dt.timedelta(days=days * 10)).delete()
    return {"minutes": minutes, "hours": hours}
