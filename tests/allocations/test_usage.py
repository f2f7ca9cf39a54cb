"""Usage of allocations from the GPU telemetry: telemetry with known utilization is stored through
the real ingest for an allocation's GPUs and window (plus samples outside the window that must
not count), rolled up to minutes, and the report's allocated / used / idle GPU-hours and mean
utilization match; the API (JSON and CSV), the page and the allocation page show the same; other
projects' users see nothing of it; the report's query count does not grow with allocations."""
import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.allocations import usage
from apps.allocations.models import Allocation, AllocationGpu
from apps.allocations.states import AllocationState as S
from apps.gpus import rollups
from apps.gpus.ingest import ingest
from apps.gpus.models import Gpu

from .conftest import add_node

pytestmark = pytest.mark.django_db


def _window(now):
    """Two hours ending 10 minutes ago, inside one calendar month."""
    end = now.replace(second=0) - dt.timedelta(minutes=10)
    if (end - dt.timedelta(hours=2)).month != end.month:
        end = end.replace(day=1, hour=0, minute=0) - dt.timedelta(minutes=10)
    return end - dt.timedelta(hours=2), end


def _allocation(team, user, gpus, start, end, state=S.RELEASED):
    allocation = Allocation.objects.create(project=team, requester=user, gpu_count=len(gpus), start=start, end=end,
                                           state=state, spread_allowed=True)
    AllocationGpu.objects.bulk_create([AllocationGpu(allocation=allocation, gpu=g, start=start, end=end,
                                                     holds=state == S.ACTIVE) for g in gpus])
    return allocation


def _telemetry(node, gpu_utils: dict, start, end, now):
    samples = []
    t = start
    while t < end:
        samples += [{"uuid": gpu.uuid, "ts": t.isoformat(), "utilization_pct": util} for gpu, util in gpu_utils.items()]
        t += dt.timedelta(minutes=1)
    ingest(node, {"version": 1, "gpu_samples": samples}, source="agent", now=now)


@pytest.fixture
def measured(team, dev, now):
    node = add_node("u1", gpus=4)
    gpus = list(Gpu.objects.filter(node=node).order_by("index"))
    start, end = _window(now)
    busy = _allocation(team, dev, gpus[:2], start, end)
    _telemetry(node, {gpus[0]: 80.0, gpus[1]: 20.0}, start, end, now)
    # Before the window the GPUs were fully busy for someone else: must not count.
    _telemetry(node, {gpus[0]: 100.0, gpus[1]: 100.0}, start - dt.timedelta(minutes=30), start, now)
    unmeasured = _allocation(team, dev, gpus[2:3], start, start + dt.timedelta(hours=1))
    rollups.roll_minutes(start - dt.timedelta(hours=1), now)
    return {"busy": busy, "unmeasured": unmeasured, "month": start.strftime("%Y-%m")}


@pytest.mark.parametrize("raw_hours", [6.0, 1.0], ids=["raw-samples", "minute-rollups"])
def test_usage_matches_the_simulated_utilization(measured, settings, raw_hours):
    settings.ALLOCATION_USAGE_RAW_HOURS = raw_hours  # the 2-hour window read from either source
    found = usage.of_allocation(measured["busy"])
    assert found["allocated_gpu_hours"] == pytest.approx(4.0)
    assert found["used_gpu_hours"] == pytest.approx(2.0)   # 2 h x 80 % + 2 h x 20 %
    assert found["idle_gpu_hours"] == pytest.approx(2.0)
    assert found["mean_utilization_pct"] == pytest.approx(50.0)
    assert found["unmeasured_gpu_hours"] == 0
    other = usage.of_allocation(measured["unmeasured"])
    assert other["allocated_gpu_hours"] == pytest.approx(1.0) and other["unmeasured_gpu_hours"] == pytest.approx(1.0)
    assert other["used_gpu_hours"] == 0 and other["mean_utilization_pct"] is None


def test_monthly_report_api_csv_and_page(measured, api, dev, client):
    answer = api(dev).get(f"/api/v1/allocations/usage/?project=team&month={measured['month']}")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    (project,) = body["projects"]
    assert project["project"] == "team" and "Used: allocated x mean GPU utilization" in body["definition"]
    assert (project["allocated_gpu_hours"], project["used_gpu_hours"], project["idle_gpu_hours"],
            project["unmeasured_gpu_hours"]) == pytest.approx((5.0, 2.0, 2.0, 1.0))
    assert {a["id"]: a["used_gpu_hours"] for a in project["allocations"]} == pytest.approx(
        {measured["busy"].pk: 2.0, measured["unmeasured"].pk: 0.0})

    text = api(dev).get(f"/api/v1/allocations/usage/?month={measured['month']}&export=csv").content.decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:2] == ["project", "allocation"]
    total = next(r for r in rows if r[1] == "total")
    assert [float(x) for x in total[5:9]] == pytest.approx([5.0, 2.0, 2.0, 1.0])

    client.force_login(dev)
    page = client.get(f"/allocations/usage/?month={measured['month']}")
    assert page.status_code == 200 and b"Allocated <strong>5.0</strong>" in page.content
    assert b"Used: allocated x mean GPU utilization" in page.content
    detail = client.get(f"/allocations/{measured['busy'].pk}/")
    assert detail.status_code == 200 and b'id="allocation-usage"' in detail.content and b"50.0 %" in detail.content


def test_bad_month_and_foreign_projects(measured, api, make_user):
    stranger = make_user("stranger")
    from django.contrib.auth.models import Group
    stranger.groups.add(Group.objects.get(name="data-developer"))
    answer = api(stranger).get(f"/api/v1/allocations/usage/?month={measured['month']}")
    assert answer.status_code == 200 and answer.json()["projects"] == []
    answer = api(stranger).get(f"/api/v1/allocations/usage/?project=team&month={measured['month']}")
    assert answer.status_code == 400 and "project" in answer.json()
    answer = api(stranger).get("/api/v1/allocations/usage/?month=2026-13")
    assert answer.status_code == 400 and "month" in answer.json()


def test_report_queries_do_not_grow_with_allocations(measured, team, dev, now):
    allocations = Allocation.objects.all()

    def count():
        with CaptureQueriesContext(connection) as ctx:
            usage.report(allocations, measured["month"], now=now)
        return len(ctx.captured_queries)

    before = count()
    node = add_node("u2", gpus=8)
    start, end = _window(now)
    for gpu in Gpu.objects.filter(node=node):
        _allocation(team, dev, [gpu], start, end)
    assert count() == before
