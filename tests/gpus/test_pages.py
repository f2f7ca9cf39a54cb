"""GPU pages: list (filters, utilization bars, health badges, CSV), detail (inventory, health, MIG,
charts wired to the metrics API), labels/maintenance through the service, the node page's GPU
section and its metrics API, the dashboard panel; refusals per role."""
import csv
import datetime as dt
import io

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.gpus.ingest import ingest
from apps.gpus.models import Gpu, GpuHealth

from .conftest import gpu_sample, inventory_item, iso, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(four_gpus, root):
    """gpu-node: GPU-test-0..3 sampled now (gpu2 failed by XID 79, gpu3 labelled, gpu1 MIG);
    gpu-node-b: one A100."""
    from apps.nodes import services as nodes

    now = timezone.now()
    other = nodes.create_node(root, name="gpu-node-b", address="10.0.0.52")
    ingest(other, record(inventory=[inventory_item(0, "GPU-b-0", name="NVIDIA A100-SXM4-40GB")],
                         gpu_samples=[gpu_sample("GPU-b-0", now, utilization_pct=12.0)]), source="agent")
    mig = [{"gpu_instance": 1, "compute_instance": 0, "uuid": "MIG-test-1", "profile": "1g.10gb",
            "memory_total_mib": 9984}]
    ingest(four_gpus, record(
        inventory=[inventory_item(0), inventory_item(1, mig_mode="Enabled", mig_devices=mig), inventory_item(2),
                   inventory_item(3)],
        gpu_samples=[gpu_sample(f"GPU-test-{i}", now, utilization_pct=25.0 * i) for i in range(4)],
        node_samples=[{"ts": iso(now - dt.timedelta(seconds=s)), "cpu_pct": 40.0, "load1": 2.0,
                       "memory_used_bytes": 2e9, "memory_total_bytes": 8e9, "net_rx_bps": 1e6, "net_tx_bps": 2e6,
                       "disk_read_bps": 3e6, "disk_write_bps": 4e6} for s in (0, 30, 60)],
        events=[{"uuid": "GPU-test-2", "ts": iso(now), "kind": "xid", "xid": 79, "message": "fallen off the bus"}]),
        source="agent")
    Gpu.objects.filter(uuid="GPU-test-3").update(labels=["training"])
    return {"a": four_gpus, "b": other}


def csv_uuids(client, query=None) -> list[str]:
    response = client.get(reverse("gpus:list"), {**(query or {}), "export": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    return sorted(row["UUID"] for row in rows)


def test_list_shows_bars_badges_and_links(client, root, fleet):
    client.force_login(root)
    response = client.get(reverse("gpus:list"))
    assert response.status_code == 200
    html = response.content.decode()
    gpu2 = Gpu.objects.get(uuid="GPU-test-2")
    assert f'href="{reverse("gpus:detail", args=[gpu2.pk])}"' in html
    assert 'aria-valuenow="75"' in html  # gpu3's utilization bar
    assert "badge text-bg-danger" in html and "Failed" in html


@pytest.mark.parametrize("query, expected", [
    ({}, ["GPU-b-0", "GPU-test-0", "GPU-test-1", "GPU-test-2", "GPU-test-3"]),
    ({"node": "gpu-node-b"}, ["GPU-b-0"]),
    ({"model": "a100"}, ["GPU-b-0"]),
    ({"health": "failed"}, ["GPU-test-2"]),
    ({"label": "training"}, ["GPU-test-3"]),
    ({"present": "false"}, []),
    ({"q": "GPU-test-1"}, ["GPU-test-1"]),
])
def test_list_filters_and_csv(client, root, fleet, query, expected):
    client.force_login(root)
    assert csv_uuids(client, query) == expected


def test_list_shows_only_what_the_role_may_see(client, make_user, fleet):
    engineer = make_user("eng", staff=True)
    engineer.groups.add(Group.objects.get(name="engineer"))
    client.force_login(engineer)
    assert csv_uuids(client) == []  # the nodes are in no project of theirs
    gpu = Gpu.objects.get(uuid="GPU-test-0")
    assert client.get(reverse("gpus:detail", args=[gpu.pk])).status_code == 404
    assert client.get(reverse("gpus:edit", args=[gpu.pk])).status_code == 404
    assert client.get(reverse("api:node-metrics", args=[fleet["a"].pk])).status_code == 404


def test_detail_shows_inventory_health_mig_and_charts(client, root, fleet):
    client.force_login(root)
    gpu = Gpu.objects.get(uuid="GPU-test-1")
    response = client.get(reverse("gpus:detail", args=[gpu.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "MIG-test-1" in html and "1g.10gb" in html
    assert f'data-url="{reverse("api:gpu-metrics", args=[gpu.pk])}"' in html
    for series in ("utilization_pct", "temperature_c", "power_w", "memory_used_mib"):
        assert f'data-series="{series}"' in html
    failed = Gpu.objects.get(uuid="GPU-test-2")
    html = client.get(reverse("gpus:detail", args=[failed.pk])).content.decode()
    assert failed.health == GpuHealth.FAILED and failed.health_reason
    assert failed.health_reason in html


def test_chart_endpoint_answers_the_page_s_query(client, root, fleet):
    """The page asks for the last hour/day/week with ?start=&end=&step= (gpu-charts.js)."""
    client.force_login(root)
    gpu = Gpu.objects.get(uuid="GPU-test-3")
    end = timezone.now() + dt.timedelta(seconds=1)
    for seconds in (3600, 86400, 7 * 86400):
        start = end - dt.timedelta(seconds=seconds)
        response = client.get(reverse("api:gpu-metrics", args=[gpu.pk]),
                              {"start": iso(start), "end": iso(end), "step": max(5, seconds // 300)})
        assert response.status_code == 200, response.content
        body = response.json()
        if body["source"] == "raw":
            assert [p["utilization_pct"]["avg"] for p in body["points"]] == [75.0]


def test_edit_sets_maintenance_through_the_service(client, root, fleet):
    client.force_login(root)
    gpu = Gpu.objects.get(uuid="GPU-test-0")
    url = reverse("gpus:edit", args=[gpu.pk])
    assert client.get(url).status_code == 200
    refused = client.post(url, {"labels": "spare", "health": "maintenance", "health_reason": ""})
    assert refused.status_code == 400
    assert "Say why the GPU goes into maintenance." in refused.content.decode()
    before = AuditEvent.objects.count()
    response = client.post(url, {"labels": "spare, nvlink", "health": "maintenance", "health_reason": "reseat"})
    assert response.status_code == 302 and response["Location"] == reverse("gpus:detail", args=[gpu.pk])
    gpu.refresh_from_db()
    assert (gpu.health, gpu.health_reason, gpu.labels) == ("maintenance", "reseat", ["spare", "nvlink"])
    assert AuditEvent.objects.filter(action="gpu.update").count() == 1 and AuditEvent.objects.count() == before + 1
    # The unchanged form changes nothing and writes no audit entry.
    client.post(url, {"labels": "spare nvlink", "health": "maintenance", "health_reason": "reseat"})
    assert AuditEvent.objects.count() == before + 1


def test_degraded_or_failed_cannot_be_chosen_by_an_operator(client, root, fleet):
    client.force_login(root)
    gpu = Gpu.objects.get(uuid="GPU-test-0")
    response = client.post(reverse("gpus:edit", args=[gpu.pk]), {"labels": "", "health": "failed",
                                                                  "health_reason": "x"})
    assert response.status_code == 400
    assert Gpu.objects.get(pk=gpu.pk).health == GpuHealth.OK


def test_member_sees_but_may_not_edit(client, root, make_user, fleet):
    from apps.rbac import services as rbac

    project = rbac.create_project(None, "gpu-team", owner=root)
    type(fleet["a"]).objects.filter(pk=fleet["a"].pk).update(project=project)
    member = make_user("member", staff=True)
    member.groups.add(Group.objects.get(name="engineer"))
    rbac.add_member(root, project, member.username)
    client.force_login(member)
    gpu = Gpu.objects.get(uuid="GPU-test-0")
    assert csv_uuids(client) == ["GPU-test-0", "GPU-test-1", "GPU-test-2", "GPU-test-3"]
    page = client.get(reverse("gpus:detail", args=[gpu.pk]))
    assert page.status_code == 200 and 'id="gpu-edit"' not in page.content.decode()
    assert client.get(reverse("gpus:edit", args=[gpu.pk])).status_code == 403
    assert client.post(reverse("gpus:edit", args=[gpu.pk]), {"labels": "x", "health": "ok"}).status_code == 403


def test_node_page_lists_its_gpus_and_charts_node_samples(client, root, fleet):
    client.force_login(root)
    html = client.get(reverse("nodes:detail", args=[fleet["a"].pk])).content.decode()
    assert 'id="node-gpus"' in html
    for i in range(4):
        assert reverse("gpus:detail", args=[Gpu.objects.get(uuid=f"GPU-test-{i}").pk]) in html
    metrics_url = reverse("api:node-metrics", args=[fleet["a"].pk])
    assert f'data-url="{metrics_url}"' in html
    end = timezone.now() + dt.timedelta(seconds=1)
    response = client.get(metrics_url, {"start": iso(end - dt.timedelta(hours=1)), "end": iso(end), "step": 3600})
    assert response.status_code == 200, response.content
    points = response.json()["points"]
    assert len(points) == 1 and points[0]["samples"] == 3
    assert points[0]["cpu_pct"] == {"avg": 40.0, "max": 40.0}
    assert points[0]["net_tx_bps"]["avg"] == 2e6
    bad = client.get(metrics_url, {"start": iso(end), "end": iso(end - dt.timedelta(hours=1))})
    assert bad.status_code == 400 and "end" in bad.json()


def test_dashboard_heat_map_and_health_counts(client, root, fleet):
    client.force_login(root)
    html = client.get(reverse("dashboard")).content.decode()
    assert 'data-panel="gpus.fleet"' in html
    assert f'href="{reverse("nodes:detail", args=[fleet["a"].pk])}"' in html
    assert 'gpu-heat gpu-heat-1 gpu-heat-unhealthy' in html  # gpu-node: (0+25+50+75)/4 = 37.5 %, gpu2 failed
    assert 'class="gpu-heat gpu-heat-0" href="{}"'.format(reverse("nodes:detail", args=[fleet["b"].pk])) in html
    assert f'{reverse("gpus:list")}?health=failed&amp;present=true' in html
    assert 'data-count="gpus-failed">1<' in html and 'data-count="gpus-ok">4<' in html
