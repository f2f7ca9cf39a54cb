import datetime as dt
import itertools

import pytest
from django.utils import timezone

from apps.gpus.models import Gpu
from apps.nodes.models import Node
from apps.rbac import services as rbac
from apps.rbac.models import Project

_uuids = itertools.count()


def add_node(name, gpus=8, model="NVIDIA H100 80GB HBM3", memory=81559, labels=(), gpu_labels=()):
    node = Node.objects.create(name=name, address=f"10.9.{len(name)}.{next(_uuids) % 250 + 1}", labels=list(labels))
    Gpu.objects.bulk_create([Gpu(node=node, index=i, uuid=f"GPU-{name}-{i}-{next(_uuids)}", model=model,
                                 memory_total_mib=memory, labels=list(gpu_labels)) for i in range(gpus)])
    return node


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def hours():
    return lambda n: dt.timedelta(hours=n)


@pytest.fixture
def team(db, root, make_user):
    """A project `team` with an owner (data-developer) and a member (data-developer)."""
    from django.contrib.auth.models import Group

    from apps.rbac.sync import sync_roles

    sync_roles()
    owner, member = make_user("owner"), make_user("dev")
    for user in (owner, member):
        user.groups.add(Group.objects.get(name="data-developer"))
    project = rbac.create_project(None, "team", owner=owner)
    rbac.add_member(root, project, "dev")
    return project


@pytest.fixture
def owner(team):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="owner")


@pytest.fixture
def dev(team):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="dev")


def set_quota(project: Project, gpus=None, hours=None, refuse=False):
    from apps.allocations.models import OverQuota, ProjectQuota

    ProjectQuota.objects.update_or_create(project=project, defaults={
        "concurrent_gpus": gpus, "gpu_hours_per_month": hours,
        "over_quota": OverQuota.REFUSE if refuse else OverQuota.APPROVAL})
