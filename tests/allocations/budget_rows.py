"""Rows for the query-budget tests: n pending allocations (the list and the approval queue show
them), each with one booked GPU."""
import datetime as dt

from django.contrib.auth.models import Group
from django.utils import timezone

from apps.nodes.models import Node


def allocations(n, start, user):
    from apps.allocations.models import Allocation, AllocationGpu
    from apps.gpus.models import Gpu
    from apps.rbac.models import Project

    group = Group.objects.create(name=f"project:budget-alloc-{start}")
    project = Project.objects.create(name=f"budget-alloc-{start}", group=group)
    node = Node.objects.create(name=f"budget-alloc-{start}", address="10.4.1.1", project=project)
    gpu = Gpu.objects.create(node=node, index=0, uuid=f"GPU-budget-alloc-{start}", model="NVIDIA H100")
    now = timezone.now()
    made = Allocation.objects.bulk_create([
        Allocation(project=project, requester=user, gpu_count=1, gpu_model="H100", state="pending",
                   start=now + dt.timedelta(hours=i), end=now + dt.timedelta(hours=i + 1), purpose=f"budget {i}",
                   approval_reason="over quota") for i in range(start, start + n)])
    AllocationGpu.objects.bulk_create([AllocationGpu(allocation=a, gpu=gpu, start=a.start, end=a.end) for a in made])
