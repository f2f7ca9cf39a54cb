"""Rows for the query-budget tests: n Slurm jobs (as a queue sync stores them, each in a project
and submitted through the portal) and n job templates."""
from django.contrib.auth.models import Group
from django.utils import timezone

from apps.nodes.models import Node


def _cluster(start, user):
    from apps.clusters.models import Cluster
    from apps.rbac.models import Project

    group = Group.objects.create(name=f"project:budget-jobs-{start}")
    project = Project.objects.create(name=f"budget-jobs-{start}", group=group)
    controller = Node.objects.create(name=f"budget-jobs-ctl-{start}", address="10.3.1.1", project=project)
    return Cluster.objects.create(name=f"budget-jobs-{start}", controller=controller, project=project), project


def slurm_jobs(n, start, user):
    from apps.clusters.models import SlurmJob, SlurmJobState

    cluster, project = _cluster(start, user)
    now = timezone.now()
    SlurmJob.objects.bulk_create([
        SlurmJob(cluster=cluster, job_id=str(i), name=f"train-{i}", user="alice", account="vision", partition="gpu",
                 state=SlurmJobState.RUNNING, nodes=["gpu-01", "gpu-02"], num_nodes=2, gpus=4,
                 gpu_indexes={"gpu-01": [0, 1], "gpu-02": [0, 1]}, submitted_at=now, started_at=now,
                 submitted_by=user, project=project, script="#!/bin/sh\n" + "x" * 2000)
        for i in range(start, start + n)])


def job_templates(n, start, user):
    from apps.clusters.models import JobTemplate

    cluster, project = _cluster(start, user)
    JobTemplate.objects.bulk_create([
        JobTemplate(name=f"template-{i:05d}", project=project, cluster=cluster, owner=user, gpus=1,
                    script="#!/bin/sh\n" + "x" * 2000) for i in range(start, start + n)])
