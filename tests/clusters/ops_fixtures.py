"""Shared fixtures of the node-state, health and accounting unit tests: a cluster with nodes
whose names a substring match would confuse, an operator, a project member, and the Slurm
client replaced at the boundary by tests/clusters/fake_slurm.FakeSlurm."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from apps.clusters import connection
from apps.clusters.models import Cluster, ClusterKind, ClusterNode
from apps.jobs import services as job_services
from apps.nodes.models import Node
from apps.rbac.models import Membership, Project, ProjectRole

from .fake_slurm import FakeSlurm

NAMES = ("lab-node1", "lab-node10")


@pytest.fixture
def no_enqueue(monkeypatch):
    monkeypatch.setattr(job_services, "enqueue", lambda job: None)


@pytest.fixture
def project(db):
    group = Group.objects.create(name="project:ops-test")
    return Project.objects.create(name="ops-test", group=group)


@pytest.fixture
def cluster(project):
    controller = Node.objects.create(name="ctl-1", address="10.0.0.1", project=project)
    hosts = [Node.objects.create(name=n, address=f"10.0.0.{i + 2}", project=project) for i, n in enumerate(NAMES)]
    cluster = Cluster.objects.create(name="opstest", kind=ClusterKind.MANAGED, controller=controller, project=project,
                                     reuse_database=False, slurm_cluster_name="opstest")
    for host in hosts:
        ClusterNode.objects.create(cluster=cluster, slurm_name=host.name, node=host, state="IDLE", gpu_count=2)
    return cluster


@pytest.fixture
def sre(make_user):
    user = make_user("ops-sre", staff=True)
    user.groups.add(Group.objects.get(name="sre"))
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def member(make_user, project):
    """An engineer in the cluster's project: sees it, may not manage it."""
    user = make_user("ops-member", staff=True)
    user.groups.add(Group.objects.get(name="engineer"))
    Membership.objects.create(project=project, user=user, role=ProjectRole.MEMBER)
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def fake_slurm(monkeypatch):
    fake = FakeSlurm({name: ("IDLE", "") for name in NAMES})
    monkeypatch.setattr(connection, "controller_client", lambda cluster, **kw: fake)
    monkeypatch.setattr(connection, "slurm_on", lambda node, **kw: fake)
    return fake
