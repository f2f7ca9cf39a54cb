"""The GPU API: filters, pk-or-UUID lookup, operator changes, status, metrics, summary, telemetry push."""
import datetime as dt

import pytest
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.gpus.ingest import ingest
from apps.gpus.models import Gpu, GpuHealth, GpuSample

from .conftest import gpu_sample, inventory_item, iso, record

pytestmark = pytest.mark.django_db


def ids(response) -> list:
    return sorted(row["uuid"] for row in response.json()["results"])


@pytest.fixture
def fleet(four_gpus, root):
    """gpu-node: GPU-test-0..3 (2 failed by XID 79, 3 labelled); gpu-node-b: one A100 GPU."""
    from apps.nodes import services as nodes

    other = nodes.create_node(root, name="gpu-node-b", address="10.0.0.52")
    ingest(other, record(inventory=[inventory_item(0, "GPU-b-0", name="NVIDIA A100-SXM4-40GB")]), source="agent")
    ingest(four_gpus, record(events=[{"uuid": "GPU-test-2", "ts": iso(timezone.now()), "kind": "xid", "xid": 79,
                                      "message": "fallen off the bus"}]), source="agent")
    Gpu.objects.filter(uuid="GPU-test-3").update(labels=["training", "nvlink"])
    return {"a": four_gpus, "b": other}


@pytest.mark.parametrize("query, expected", [
    ({}, ["GPU-b-0", "GPU-test-0", "GPU-test-1", "GPU-test-2", "GPU-test-3"]),
    ({"node": "gpu-node-b"}, ["GPU-b-0"]),
    ({"model": "a100"}, ["GPU-b-0"]),
    ({"health": "failed"}, ["GPU-test-2"]),
    ({"label": "training"}, ["GPU-test-3"]),
    ({"present": "false"}, []),
])
def test_list_filters(api, root, fleet, query, expected):
    response = api(root).get("/api/v1/gpus/", query)
    assert response.status_code == 200, response.content
    assert ids(response) == expected


def test_node_filter_takes_the_id_too(api, root, fleet):
    assert ids(api(root).get("/api/v1/gpus/", {"node": fleet["b"].pk})) == ["GPU-b-0"]


def test_detail_by_pk_or_uuid(api, root, fleet):
    gpu = Gpu.objects.get(uuid="GPU-test-1")
    by_pk = api(root).get(f"/api/v1/gpus/{gpu.pk}/")
    by_uuid = api(root).get("/api/v1/gpus/GPU-test-1/")
    assert by_pk.status_code == by_uuid.status_code == 200
    assert by_pk.json() == by_uuid.json()
    assert api(root).get("/api/v1/gpus/GPU-nope/").status_code == 404


def test_maintenance_needs_a_reason_and_is_audited(api, root, fleet):
    client = api(root)
    refused = client.patch("/api/v1/gpus/GPU-test-0/", {"health": "maintenance"}, format="json")
    assert refused.status_code == 400 and "health_reason" in refused.json()
    response = client.patch("/api/v1/gpus/GPU-test-0/", {"health": "maintenance", "health_reason": "reseat",
                                                         "labels": ["bench"]}, format="json")
    assert response.status_code == 200, response.content
    gpu = Gpu.objects.get(uuid="GPU-test-0")
    assert (gpu.health, gpu.health_reason, gpu.labels) == (GpuHealth.MAINTENANCE, "reseat", ["bench"])
    entry = AuditEvent.objects.filter(action="gpu.update").get()
    assert entry.changes["before"]["health"] == "ok" and entry.changes["after"]["health"] == "maintenance"


def test_operators_cannot_declare_failed_and_inventory_is_read_only(api, root, fleet):
    client = api(root)
    assert client.patch("/api/v1/gpus/GPU-test-0/", {"health": "failed"}, format="json").status_code == 400
    client.patch("/api/v1/gpus/GPU-test-0/", {"model": "Fake"}, format="json")
    assert Gpu.objects.get(uuid="GPU-test-0").model == "NVIDIA H100 80GB HBM3"


def test_an_operator_clears_a_failed_gpu(api, root, fleet):
    response = api(root).patch("/api/v1/gpus/GPU-test-2/", {"health": "ok", "health_reason": "replaced cable"},
                               format="json")
    assert response.status_code == 200 and response.json()["health"] == "ok"


def test_status_shows_health_reason_and_events(api, root, fleet):
    body = api(root).get("/api/v1/gpus/GPU-test-2/status/").json()
    assert body["health"] == "failed" and body["health_reason"].startswith("XID 79")
    assert any(event["xid"] == 79 for event in body["events"])


def test_summary_counts_what_the_user_sees(api, root, fleet, make_user):
    body = api(root).get("/api/v1/gpus/summary/").json()
    assert (body["gpus"], body["nodes"], body["health"]["failed"], body["health"]["ok"]) == (5, 2, 1, 4)
    engineer = make_user("eng", "gpus.view_gpu")
    assert api(engineer).get("/api/v1/gpus/summary/").json()["gpus"] == 0  # no project, no grant


def test_out_of_reach_gpus_are_404(api, fleet, make_user):
    viewer = make_user("viewer", "gpus.view_gpu", "gpus.change_gpu")
    client = api(viewer)
    assert client.get("/api/v1/gpus/").json()["results"] == []
    assert client.get("/api/v1/gpus/GPU-test-0/").status_code == 404
    assert client.patch("/api/v1/gpus/GPU-test-0/", {"labels": ["x"]}, format="json").status_code == 404


def test_telemetry_push_as_a_user(api, root, gpu_node, make_user):
    body = record(inventory=[inventory_item(0)], gpu_samples=[gpu_sample("GPU-test-0", timezone.now())])
    response = api(root).post("/api/v1/telemetry/", {"node": "gpu-node", **body}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["gpu_samples"] == 1 and response.json()["inventory"]["added"] == ["GPU-test-0"]
    nobody = make_user("nobody", "gpus.view_gpu")
    assert api(nobody).post("/api/v1/telemetry/", {"node": "gpu-node", **body}, format="json").status_code == 403


def test_telemetry_refusal_names_index_and_field(api, root, four_gpus):
    samples = [gpu_sample("GPU-test-1", timezone.now()), gpu_sample("GPU-test-1", timezone.now(), power_w="x")]
    response = api(root).post("/api/v1/telemetry/", {"node": four_gpus.pk, **record(gpu_samples=samples)},
                              format="json")
    assert response.status_code == 400
    assert "gpu_samples[1].power_w" in response.json()
    assert GpuSample.objects.count() == 0


def test_telemetry_needs_a_node_the_user_may_use(api, four_gpus, make_user):
    pusher = make_user("pusher", "gpus.push_telemetry")
    response = api(pusher).post("/api/v1/telemetry/", {"node": "gpu-node", **record()}, format="json")
    assert response.status_code == 400 and "node" in response.json()


def test_telemetry_from_a_node_credential(four_gpus, rf):
    """An authentication class that vouches for a node (request.auth is the node, or has .node)."""
    from rest_framework.test import APIRequestFactory, force_authenticate

    from apps.gpus.api.views import TelemetryView

    class Credential:
        node = four_gpus

    body = record(gpu_samples=[gpu_sample("GPU-test-0", timezone.now())])
    request = APIRequestFactory().post("/api/v1/telemetry/", body, format="json")
    force_authenticate(request, user=None, token=Credential())
    response = TelemetryView.as_view()(request)
    assert response.status_code == 201, response.data
    assert response.data["node"] == four_gpus.pk


def test_metrics_from_raw_samples_and_rollups(api, root, four_gpus):
    from apps.gpus import rollups

    start = (timezone.now() - dt.timedelta(minutes=30)).replace(second=0, microsecond=0)
    samples = [gpu_sample("GPU-test-0", start + dt.timedelta(seconds=10 * i), utilization_pct=float(i % 6 * 10))
               for i in range(180)]  # 30 minutes at 10 s: 0,10,...,50 % repeating each minute
    ingest(four_gpus, record(gpu_samples=samples), source="agent")
    rollups.roll_minutes(start, start + dt.timedelta(minutes=30))
    rollups.roll_hours(start, start + dt.timedelta(hours=1))
    client = api(root)
    end = start + dt.timedelta(minutes=30)
    raw = client.get("/api/v1/gpus/GPU-test-0/metrics/", {"start": iso(start), "end": iso(end), "step": 30}).json()
    assert raw["source"] == "raw" and len(raw["points"]) == 60
    assert raw["points"][0]["utilization_pct"] == {"avg": 10.0, "max": 20.0}  # 0, 10, 20
    minute = client.get("/api/v1/gpus/GPU-test-0/metrics/", {"start": iso(start), "end": iso(end), "step": 300}).json()
    assert minute["source"] == "1m" and len(minute["points"]) == 6
    assert minute["points"][0]["samples"] == 30 and minute["points"][0]["utilization_pct"] == {"avg": 25.0, "max": 50.0}
    hour = client.get("/api/v1/gpus/GPU-test-0/metrics/",
                      {"start": iso(start - dt.timedelta(hours=1)), "end": iso(end + dt.timedelta(hours=1)),
                       "step": 3600}).json()
    assert hour["source"] == "1h" and sum(p["samples"] for p in hour["points"]) == 180
    assert all(p["utilization_pct"]["avg"] == pytest.approx(25.0) for p in hour["points"])


def test_metrics_refuses_too_many_points(api, root, four_gpus):
    response = api(root).get("/api/v1/gpus/GPU-test-0/metrics/", {"start": iso(timezone.now() - dt.timedelta(days=7)),
                                                                  "step": 5})
    assert response.status_code == 400 and "step" in response.json()


def test_server_aliases(api, root, four_gpus):
    client = api(root)
    listed = client.get("/api/v1/servers/").json()
    assert [row["name"] for row in listed["results"]] == ["gpu-node"]
    status = client.get(f"/api/v1/servers/{four_gpus.pk}/status/").json()
    assert status["name"] == "gpu-node" and status["gpus"]["gpus"] == 4 and status["gpus"]["health"] == "ok"
    created = client.post("/api/v1/servers/", {"name": "srv-1", "address": "10.0.0.60"}, format="json")
    assert created.status_code == 201, created.content
    # No BMC configured: the power job still starts (and fails with that reason), as on /nodes/.
    assert client.post(f"/api/v1/servers/{four_gpus.pk}/power/", {"action": "on"}, format="json").status_code == 202


def test_odd_times_and_digits_are_400s_not_500s(api, root, four_gpus):
    client = api(root)
    far = client.get("/api/v1/gpus/GPU-test-0/metrics/", {"start": "2026-11-30T00:00:00+20:00",
                                                         "end": "2026-11-30T06:00:00+20:00", "step": 60})
    assert far.status_code == 200 and far.json()["start"].endswith("Z")
    edge = client.get("/api/v1/gpus/GPU-test-0/metrics/", {"start": "0001-01-01T00:00:00+05:00"})
    assert edge.status_code == 400
    assert client.get("/api/v1/gpus/", {"node": "²"}).status_code == 200
    pushed = client.post("/api/v1/telemetry/", {"node": "²", **record()}, format="json")
    assert pushed.status_code == 400 and "node" in pushed.json()
    early = record(gpu_samples=[gpu_sample("GPU-test-0", timezone.now())])
    early["gpu_samples"][0]["ts"] = "0001-01-01T00:00:00+14:00"
    response = client.post("/api/v1/telemetry/", {"node": "gpu-node", **early}, format="json")
    assert response.status_code == 400 and "gpu_samples[0].ts" in response.json()
