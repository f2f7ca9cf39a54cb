"""A cluster's figures over time: a sample per sync, bucketed by the metrics API like the GPU
charts (both layouts), pruned after the retention."""
import datetime as dt

import pytest
from django.utils import timezone

from apps.clusters import history
from apps.clusters.models import Cluster, ClusterSample
from apps.nodes.models import Node

pytestmark = pytest.mark.django_db


@pytest.fixture
def cluster():
    return Cluster.objects.create(name="hist", controller=Node.objects.create(name="ctl", address="10.9.1.1"))


def summary(idle, mixed, drained, down, queue, gpus_allocated):
    return {"states": {"idle": idle, "mixed": mixed, "drained": drained, "down": down}, "queue_length": queue,
            "gpus": 16, "gpus_allocated": gpus_allocated}


def test_samples_fold_states_and_answer_both_layouts(api, root, cluster):
    start = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=10)
    history.record(cluster, summary(3, 1, 0, 0, 5, 4), at=start + dt.timedelta(seconds=10))
    history.record(cluster, summary(1, 2, 1, 0, 9, 8), at=start + dt.timedelta(seconds=40))
    history.record(cluster, summary(0, 2, 1, 1, 12, 8), at=start + dt.timedelta(seconds=70))
    sample = ClusterSample.objects.order_by("ts").last()
    assert (sample.nodes_idle, sample.nodes_busy, sample.nodes_drained, sample.nodes_down) == (0, 2, 1, 1)
    window = {"start": start.isoformat(), "end": (start + dt.timedelta(minutes=2)).isoformat(), "step": 60}
    body = api(root).get(f"/api/v1/clusters/{cluster.pk}/metrics/", {**window, "layout": "columns"}).json()
    assert body["k"] == [0, 1] and body["samples"] == [2, 1]
    assert body["avg"]["queue_length"] == [7.0, 12.0] and body["max"]["queue_length"] == [9, 12]
    assert body["max"]["gpus_allocated"] == [8, 8] and body["avg"]["nodes_down"] == [0.0, 1.0]
    points = api(root).get(f"/api/v1/clusters/{cluster.pk}/metrics/", window).json()["points"]
    assert [p["queue_length"]["max"] for p in points] == [9, 12]


def test_old_samples_are_pruned(cluster, settings):
    settings.CLUSTER_SAMPLE_RETENTION_DAYS = 7
    now = timezone.now()
    history.record(cluster, summary(1, 0, 0, 0, 0, 0), at=now - dt.timedelta(days=8))
    history.record(cluster, summary(1, 0, 0, 0, 0, 0), at=now - dt.timedelta(days=1))
    assert history.prune(now) == 1 and ClusterSample.objects.count() == 1
