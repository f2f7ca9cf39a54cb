"""Placement: constraints, best fit, the failing constraint named with the earliest fit."""
import pytest

from apps.allocations import placement, services
from apps.allocations.models import AllocationGpu
from apps.gpus.models import Gpu, GpuHealth

from .conftest import add_node

pytestmark = pytest.mark.django_db


def test_choose_nodes_best_fit_keeps_whole_nodes_free():
    # node 1: 8 free of 8; node 2: 3 free of 8 (in use); node 3: 5 free of 8.
    per_node = [(1, 8, 8), (2, 3, 8), (3, 5, 8)]
    assert placement.choose_nodes(per_node, 2, spread=False) == {2: 2}  # the tightest that fits
    assert placement.choose_nodes(per_node, 4, spread=False) == {3: 4}
    assert placement.choose_nodes(per_node, 8, spread=False) == {1: 8}
    assert placement.choose_nodes(per_node, 10, spread=False) is None
    assert placement.choose_nodes(per_node, 10, spread=True) == {1: 8, 3: 2}  # fewest nodes
    # equal free counts: the node already in use first, the whole free node stays free
    assert placement.choose_nodes([(1, 4, 4), (2, 4, 8)], 4, spread=False) == {2: 4}


def test_placement_honours_constraints_and_health(team, dev, now, hours):
    add_node("a100-1", gpus=4, model="NVIDIA A100-SXM4-40GB", memory=40960)
    h = add_node("h100-1", gpus=4, labels=["rack-3"])
    Gpu.objects.filter(node=h, index=0).update(health=GpuHealth.FAILED)
    Gpu.objects.filter(node=h, index=1).update(present=False)
    alloc = services.request_allocation(dev, project=team, gpu_count=2, start=now, end=now + hours(2),
                                        gpu_model="H100", min_memory_mib=80000, labels=["rack-3"])
    gpus = list(Gpu.objects.filter(allocations__allocation=alloc).order_by("index"))
    assert [(g.node.name, g.index) for g in gpus] == [("h100-1", 2), ("h100-1", 3)]
    assert alloc.state == "active"


def test_failing_constraint_is_named(team, dev, now, hours):
    add_node("a100-1", gpus=4, model="NVIDIA A100-SXM4-40GB", memory=40960)
    add_node("a100-2", gpus=4, model="NVIDIA A100-SXM4-40GB", memory=40960)
    cases = [({"gpu_count": 9}, "gpu_count"), ({"gpu_count": 1, "gpu_model": "H100"}, "gpu_model"),
             ({"gpu_count": 1, "min_memory_mib": 80000}, "min_memory_mib"),
             ({"gpu_count": 1, "labels": ["nvlink"]}, "labels"), ({"gpu_count": 6}, "spread_allowed")]
    for kwargs, field in cases:
        with pytest.raises(services.NoFit) as err:
            services.request_allocation(dev, project=team, start=now, end=now + hours(1), **kwargs)
        assert err.value.field == field, (kwargs, err.value.message)
        assert field in err.value.as_dict()
    spread = services.request_allocation(dev, project=team, gpu_count=6, spread_allowed=True, start=now,
                                         end=now + hours(1))
    assert AllocationGpu.objects.filter(allocation=spread).values("gpu__node").distinct().count() == 2


def test_busy_window_names_earliest_start(team, dev, now, hours):
    add_node("n1", gpus=4)
    first = services.request_allocation(dev, project=team, gpu_count=3, start=now, end=now + hours(2))
    services.request_allocation(dev, project=team, gpu_count=1, start=now, end=now + hours(5))
    with pytest.raises(services.NoFit) as err:
        services.request_allocation(dev, project=team, gpu_count=2, start=now + hours(1), end=now + hours(3))
    assert err.value.field == "start"
    assert err.value.outcome.earliest_start == first.end  # the 3 GPUs free up at the first one's end
    assert err.value.as_dict()["earliest_start"] == first.end.isoformat()
    # ...and the request fits from there.
    later = services.request_allocation(dev, project=team, gpu_count=2, start=first.end, end=first.end + hours(2))
    assert later.gpus.count() == 2


def test_back_to_back_windows_share_gpus(team, dev, now, hours):
    add_node("n1", gpus=1)
    services.request_allocation(dev, project=team, gpu_count=1, start=now, end=now + hours(1))
    services.request_allocation(dev, project=team, gpu_count=1, start=now + hours(1), end=now + hours(2))
    assert AllocationGpu.objects.filter(holds=True).count() == 2


def test_availability_counts_free_gpus_by_node_and_model(team, dev, root, now, hours):
    add_node("n1", gpus=4)
    add_node("a1", gpus=2, model="NVIDIA A100-SXM4-40GB")
    services.request_allocation(dev, project=team, gpu_count=3, start=now, end=now + hours(2))
    rows = {r["node_name"]: r for r in placement.availability(now, now + hours(1))}
    assert (rows["n1"]["free"], rows["n1"]["total"], rows["a1"]["free"]) == (1, 4, 2)
    later = {r["node_name"]: r["free"] for r in placement.availability(now + hours(2), now + hours(3), "H100")}
    assert later == {"n1": 4}
