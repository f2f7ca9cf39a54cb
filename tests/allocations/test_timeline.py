"""The fleet timeline: one row per booked GPU with a bar per booking, each bar with its text
(label where it fits, always a <title>) and a link to its allocation; filters by node, project
and cluster; only the user's projects' allocations; bad filters named next to their field; the
page's query count does not grow with bookings."""
import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.allocations import timeline
from apps.allocations.models import Allocation, AllocationGpu
from apps.allocations.states import AllocationState as S
from apps.clusters.models import Cluster, ClusterNode
from apps.gpus.models import Gpu
from apps.rbac import services as rbac

from .conftest import add_node

pytestmark = pytest.mark.django_db


def _book(project, user, gpus, start, hours, state=S.ACTIVE):
    allocation = Allocation.objects.create(project=project, requester=user, gpu_count=len(gpus), start=start,
                                           end=start + dt.timedelta(hours=hours), state=state, spread_allowed=True)
    AllocationGpu.objects.bulk_create([AllocationGpu(allocation=allocation, gpu=g, start=allocation.start,
                                                     end=allocation.end, holds=state in (S.ACTIVE, S.PENDING))
                                       for g in gpus])
    return allocation


@pytest.fixture
def fleet(team, dev, owner, now):
    a, b = add_node("tl-a", gpus=2), add_node("tl-b", gpus=2)
    cluster = Cluster.objects.create(name="tl", controller=a, project=team)  # the team sees its cluster
    ClusterNode.objects.create(cluster=cluster, slurm_name="tl-a", node=a, gpu_count=2)
    other = rbac.create_project(None, "other", owner=owner)
    gpus_a, gpus_b = list(Gpu.objects.filter(node=a).order_by("index")), list(Gpu.objects.filter(node=b))
    mine = _book(team, dev, gpus_a, now - dt.timedelta(hours=2), 30)
    later = _book(team, dev, gpus_b[:1], now + dt.timedelta(days=1), 4, state=S.PENDING)
    theirs = _book(other, owner, gpus_b[1:], now, 3)
    return {"mine": mine, "later": later, "theirs": theirs, "cluster": cluster, "a": a, "b": b}


def test_rows_bars_and_text(fleet, client, dev):
    client.force_login(dev)
    page = client.get("/allocations/timeline/").content.decode()
    rows = re.findall(r'<g class="timeline-row" data-gpu="(\d+)">', page)
    assert len(rows) == 3  # tl-a gpu0, gpu1 (mine), tl-b gpu0 (later); not the other project's GPU
    bars = re.findall(r'data-allocation="(\d+)" data-state="(\w+)"', page)
    assert sorted(bars) == sorted([(str(fleet["mine"].pk), "active")] * 2 + [(str(fleet["later"].pk), "pending")])
    assert f'href="/allocations/{fleet["mine"].pk}/"' in page
    assert page.count("<title>Allocation ") == 3 and f"#{fleet['mine'].pk} team" in page  # label drawn
    assert str(fleet["theirs"].pk) not in re.findall(r"#(\d+)", page)
    for x, w in re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', page):
        assert timeline.LABEL_W <= float(x) and float(x) + float(w) <= timeline.LABEL_W + timeline.CHART_W + 2


def test_filters(fleet, client, dev, owner):
    client.force_login(dev)
    page = client.get("/allocations/timeline/?node=tl-b").content.decode()
    assert re.findall(r'data-allocation="(\d+)"', page) == [str(fleet["later"].pk)]
    page = client.get(f"/allocations/timeline/?cluster={fleet['cluster'].pk}").content.decode()
    assert set(re.findall(r'data-allocation="(\d+)"', page)) == {str(fleet["mine"].pk)}
    client.force_login(owner)  # owner of both projects
    page = client.get("/allocations/timeline/?project=other").content.decode()
    assert set(re.findall(r'data-allocation="(\d+)"', page)) == {str(fleet["theirs"].pk)}
    page = client.get("/allocations/timeline/?days=99&start=x").content.decode()
    assert 'id="tl-days-error"' in page or 'id="tl-start-error"' in page
    page = client.get("/allocations/timeline/?start=1999-01-01&days=3").content.decode()
    assert 'id="timeline-empty"' in page


def test_queries_do_not_grow_with_bookings(fleet, client, dev, team, now):
    client.force_login(dev)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/allocations/timeline/").status_code == 200
        return len(ctx.captured_queries)

    before = count()
    node = add_node("tl-c", gpus=8)
    for i, gpu in enumerate(Gpu.objects.filter(node=node)):
        _book(team, dev, [gpu], now + dt.timedelta(hours=i), 2)
    assert count() == before
