"""A cluster's figures over time: one ClusterSample per sync (discovery, queue sync), charted on
the cluster page through GET /api/v1/clusters/<id>/metrics/ (the GPU charts' layouts and
bucketing: apps/gpus/series.py)."""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from apps.gpus.series import Layout, buckets, check_window, laid_out

from .models import Cluster, ClusterSample

CLUSTER_METRICS = ("nodes_idle", "nodes_busy", "nodes_drained", "nodes_down", "queue_length", "gpus",
                   "gpus_allocated")
BUSY, DRAINED, DOWN = {"allocated", "mixed", "completing"}, {"drained", "draining"}, {"down", "error",
                                                                                       "not_responding"}


def record(cluster: Cluster, summary: dict, at: dt.datetime | None = None) -> ClusterSample:
    """Store the figures of one sync (Cluster.summary's shape: apps/clusters/discovery.summary)."""
    states = summary.get("states") or {}
    return ClusterSample.objects.create(
        cluster=cluster, ts=at or timezone.now(), nodes_idle=states.get("idle", 0),
        nodes_busy=sum(v for k, v in states.items() if k in BUSY),
        nodes_drained=sum(v for k, v in states.items() if k in DRAINED),
        nodes_down=sum(v for k, v in states.items() if k in DOWN),
        queue_length=summary.get("queue_length"), gpus=summary.get("gpus") or 0,
        gpus_allocated=summary.get("gpus_allocated") or 0)


def metrics(cluster: Cluster, start: dt.datetime, end: dt.datetime, step: float,
            layout: Layout = Layout.POINTS) -> dict:
    check_window(start, end, step)
    rows = ClusterSample.objects.filter(cluster=cluster, ts__gte=start, ts__lt=end).order_by("ts").values_list(
        "ts", *CLUSTER_METRICS)
    raw = ((ts, 1, *((v, v) for v in values)) for ts, *values in rows.iterator(chunk_size=5000))
    return {"cluster": cluster.pk, "name": cluster.name, "source": "raw", "start": start, "end": end, "step": step,
            "metrics": list(CLUSTER_METRICS), "layout": layout.value,
            **laid_out(buckets(raw, start.timestamp(), step, CLUSTER_METRICS), layout, start.timestamp(), step,
                       CLUSTER_METRICS)}


def prune(now: dt.datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.CLUSTER_SAMPLE_RETENTION_DAYS)
    deleted, _ = ClusterSample.objects.filter(ts__lt=cutoff).delete()
    return deleted
