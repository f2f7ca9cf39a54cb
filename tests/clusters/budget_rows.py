"""Rows for the query-budget tests (tests/core/test_*_query_budgets.py): n clusters in one project,
each with a controller, a summary and a status, as discovery leaves them."""
from django.utils import timezone

from apps.nodes.models import Node


def clusters(n, start, user):
    from apps.clusters.models import Cluster
    from apps.rbac.models import Project
    from django.contrib.auth.models import Group

    group = Group.objects.create(name=f"project:budget-clusters-{start}")
    project = Project.objects.create(name=f"budget-clusters-{start}", group=group)
    controller = Node.objects.create(name=f"budget-ctl-{start}", address="10.3.0.1", project=project)
    Cluster.objects.bulk_create([
        Cluster(name=f"budget-{i:05d}", controller=controller, login_node=controller, project=project,
                status="online", slurm_version="22.05.8", synced_at=timezone.now(),
                summary={"nodes": 4, "states": {"idle": 3, "drained": 1}, "gpus": 16, "gpus_allocated": 4,
                         "queue_length": 7})
        for i in range(start, start + n)])
