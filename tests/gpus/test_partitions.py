"""Telemetry partitions on PostgreSQL: created ahead, written into by day, dropped past retention;
rollups upsert idempotently."""
import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from apps.gpus import partitions, rollups
from apps.gpus.ingest import ingest
from apps.gpus.models import GpuRollup1h, GpuRollup1m, GpuSample

from .conftest import gpu_sample, record

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif("connection.vendor != 'postgresql'", reason="partitions exist on PostgreSQL only")]


def names(table="gpus_gpusample") -> set[str]:
    return set(partitions.existing_partitions(table))


def test_maintain_creates_partitions_ahead_and_drops_past_retention(settings):
    settings.GPU_PARTITIONS_AHEAD, settings.GPU_SAMPLE_RETENTION_DAYS = 3, 7
    today = dt.date(2026, 11, 30)
    partitions.ensure_days([today - dt.timedelta(days=9), today - dt.timedelta(days=7)])
    result = partitions.maintain(today)
    expected_ahead = {f"gpus_gpusample_p{today + dt.timedelta(days=n):%Y%m%d}" for n in range(4)}
    assert expected_ahead <= names()
    assert {f"gpus_nodesample_p{today + dt.timedelta(days=n):%Y%m%d}" for n in range(4)} <= names("gpus_nodesample")
    # The day exactly at the retention edge stays; the older one is gone from both series.
    assert "gpus_gpusample_p20261121" not in names() and "gpus_nodesample_p20261121" not in names("gpus_nodesample")
    assert "gpus_gpusample_p20261123" in names()
    assert {"gpus_gpusample_p20261121", "gpus_nodesample_p20261121"} <= set(result["dropped"])


def test_samples_land_in_their_days_partition(four_gpus):
    ts = timezone.now() - dt.timedelta(days=1)
    ingest(four_gpus, record(gpu_samples=[gpu_sample("GPU-test-0", ts)]), source="agent")
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM gpus_gpusample")
        assert cursor.fetchall() == [(f"gpus_gpusample_p{ts.astimezone(dt.timezone.utc):%Y%m%d}",)]
    assert GpuSample.objects.get().ts == ts  # read back through the parent as any table


def test_dropping_a_partition_drops_its_samples(four_gpus, settings):
    settings.GPU_SAMPLE_RETENTION_DAYS = 4
    now = timezone.now()
    today = now.astimezone(dt.timezone.utc).date()
    old = dt.datetime.combine(today - dt.timedelta(days=3), dt.time(1), tzinfo=dt.timezone.utc)
    new = now - dt.timedelta(minutes=1)
    ingest(four_gpus, record(gpu_samples=[gpu_sample("GPU-test-0", old), gpu_sample("GPU-test-0", new)]),
           source="agent")
    settings.GPU_SAMPLE_RETENTION_DAYS = 2
    partitions.maintain(today)  # `old`'s day is now past retention, `new`'s is not
    assert list(GpuSample.objects.values_list("ts", flat=True)) == [new]


def test_rollups_are_idempotent_and_count_late_samples(four_gpus):
    start = (timezone.now() - dt.timedelta(minutes=5)).replace(second=0, microsecond=0)
    ingest(four_gpus, record(gpu_samples=[gpu_sample("GPU-test-0", start + dt.timedelta(seconds=s),
                                                     temperature_c=60.0 + s) for s in (0, 10, 20)]), source="agent")
    rollups.roll_recent(start + dt.timedelta(minutes=5))
    rollups.roll_recent(start + dt.timedelta(minutes=5))
    minute = GpuRollup1m.objects.get()
    assert (minute.samples, minute.temperature_c_avg, minute.temperature_c_max) == (3, 70.0, 80.0)
    ingest(four_gpus, record(gpu_samples=[gpu_sample("GPU-test-0", start + dt.timedelta(seconds=30),
                                                     temperature_c=90.0)]), source="agent")  # late
    rollups.roll_recent(start + dt.timedelta(minutes=6))
    minute.refresh_from_db()
    assert (minute.samples, minute.temperature_c_max) == (4, 90.0)
    hour = GpuRollup1h.objects.get()
    assert (hour.samples, hour.temperature_c_avg) == (4, 75.0)
