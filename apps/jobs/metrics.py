"""The jobs' figures for /metrics, read from the database at scrape time (registered with core's
metrics in JobsConfig.ready())."""
from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from .models import Job

DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class JobCollector:
    def collect(self):
        by_status = GaugeMetricFamily("aimatrix_jobs", "Jobs by kind and status", labels=["kind", "status"])
        for row in Job.objects.values("kind", "status").annotate(n=Count("id")).order_by():
            by_status.add_metric([row["kind"], row["status"]], row["n"])
        yield by_status

        hist = HistogramMetricFamily(
            "aimatrix_job_duration_seconds", "Run time of finished jobs", labels=["kind"]
        )
        # Bucket counts are computed by the database in one query, whatever the number of jobs.
        aggregates = {f"le_{i}": Count("id", filter=Q(d__lte=timedelta(seconds=b)))
                      for i, b in enumerate(DURATION_BUCKETS)}
        rows = (
            Job.objects.filter(started_at__isnull=False, finished_at__isnull=False)
            .annotate(d=ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()))
            .values("kind").annotate(n=Count("id"), total=Sum("d"), **aggregates).order_by("kind")
        )
        for row in rows:
            buckets = [(str(b), row[f"le_{i}"]) for i, b in enumerate(DURATION_BUCKETS)]
            buckets.append(("+Inf", row["n"]))
            total = row["total"].total_seconds() if row["total"] is not None else 0.0
            hist.add_metric([row["kind"]], buckets, total)
        yield hist
