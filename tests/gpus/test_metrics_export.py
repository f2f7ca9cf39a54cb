"""/metrics: the GPUs' gauges under dcgm-exporter's names and label names, from samples stored
through the ingest; GPUs by health; the number of statements does not grow with the fleet."""
import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.gpus.ingest import ingest
from apps.gpus.metrics import STALE_AFTER

from .conftest import gpu_sample, inventory_item, iso, record

pytestmark = pytest.mark.django_db

DCGM_LABELS = {"gpu", "UUID", "device", "modelName", "Hostname"}


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def samples_of(families, name) -> dict:
    return {s.labels["UUID"]: s for s in families[name].samples}


def test_gauges_carry_dcgm_names_labels_and_the_newest_values(client, four_gpus):
    now = timezone.now()
    ingest(four_gpus, record(gpu_samples=[
        gpu_sample("GPU-test-0", now - dt.timedelta(seconds=30), utilization_pct=10.0),
        gpu_sample("GPU-test-0", now, utilization_pct=97.0, temperature_c=71.0, power_w=612.5, memory_used_mib=40960,
                   sm_clock_mhz=1980, ecc_corrected=3, ecc_uncorrected=1),
        gpu_sample("GPU-test-1", now, utilization_pct=5.0, temperature_c=None),
    ]), source="agent")
    families = scrape(client)
    util = samples_of(families, "DCGM_FI_DEV_GPU_UTIL")
    assert set(util) == {"GPU-test-0", "GPU-test-1"}  # GPU-test-2/3 never sampled: not exported
    first = util["GPU-test-0"]
    assert first.value == 97.0  # the newest sample, not the earlier 10 %
    assert set(first.labels) == DCGM_LABELS
    assert first.labels == {"gpu": "0", "UUID": "GPU-test-0", "device": "nvidia0",
                            "modelName": "NVIDIA H100 80GB HBM3", "Hostname": "gpu-node"}
    assert samples_of(families, "DCGM_FI_DEV_GPU_TEMP")["GPU-test-0"].value == 71.0
    assert "GPU-test-1" not in samples_of(families, "DCGM_FI_DEV_GPU_TEMP")  # null reads as absent, never 0
    assert samples_of(families, "DCGM_FI_DEV_POWER_USAGE")["GPU-test-0"].value == 612.5
    assert samples_of(families, "DCGM_FI_DEV_FB_USED")["GPU-test-0"].value == 40960
    assert samples_of(families, "DCGM_FI_DEV_FB_FREE")["GPU-test-0"].value == 81559 - 40960
    assert samples_of(families, "DCGM_FI_DEV_SM_CLOCK")["GPU-test-0"].value == 1980
    assert samples_of(families, "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL")["GPU-test-0"].value == 3
    assert samples_of(families, "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL")["GPU-test-0"].value == 1
    assert families["DCGM_FI_DEV_GPU_UTIL"].type == "gauge"


def test_label_values_are_escaped(client, gpu_node):
    odd = 'Lab "special" \\ GPU'
    ingest(gpu_node, record(inventory=[inventory_item(0, name=odd)],
                            gpu_samples=[gpu_sample("GPU-test-0", timezone.now())]), source="agent")
    assert samples_of(scrape(client), "DCGM_FI_DEV_GPU_UTIL")["GPU-test-0"].labels["modelName"] == odd


def test_a_gpu_that_stopped_reporting_is_left_out(client, four_gpus):
    old = timezone.now() - STALE_AFTER - dt.timedelta(minutes=1)
    ingest(four_gpus, record(gpu_samples=[gpu_sample("GPU-test-0", old)], at=old), source="agent")
    assert "GPU-test-0" not in samples_of(scrape(client), "DCGM_FI_DEV_GPU_UTIL")


def test_gpus_by_health_and_presence(client, four_gpus):
    now = timezone.now()
    ingest(four_gpus, record(events=[{"uuid": "GPU-test-2", "ts": iso(now), "kind": "xid", "xid": 79,
                                      "message": "fallen off the bus"}]), source="agent")
    ingest(four_gpus, record(inventory=[inventory_item(i) for i in (0, 1, 2)]), source="agent")  # gpu3 vanishes
    counts = {(s.labels["health"], s.labels["present"]): s.value for s in scrape(client)["aimatrix_gpus"].samples}
    assert counts[("failed", "true")] == 1
    assert counts[("ok", "true")] == 2
    assert sum(v for (h, p), v in counts.items() if p == "false") == 1
    assert counts[("maintenance", "true")] == 0  # every health is always present, so alerts can use == 0


def _fleet(root, nodes, per_node):
    from apps.nodes import services as node_services

    now = timezone.now()
    for n in range(nodes):
        node = node_services.create_node(root, name=f"m-{per_node}-{n}", address=f"10.0.{per_node}.{n + 1}")
        uuids = [f"GPU-m-{per_node}-{n}-{i}" for i in range(per_node)]
        ingest(node, record(inventory=[inventory_item(i, u) for i, u in enumerate(uuids)],
                            gpu_samples=[gpu_sample(u, now) for u in uuids]), source="agent")


def test_statements_do_not_grow_with_gpus(client, root):
    _fleet(root, 1, 2)
    client.get("/metrics")
    with CaptureQueriesContext(connection) as small:
        client.get("/metrics")
    _fleet(root, 5, 8)
    with CaptureQueriesContext(connection) as large:
        families = scrape(client)
    assert len(families["DCGM_FI_DEV_GPU_UTIL"].samples) == 2 + 40
    assert len(small) == len(large)


def test_firing_alerts_by_severity(client, four_gpus, alert_defaults):
    """The seed's GPU temperature rule (critical) fires through the real ingest and evaluator."""
    from apps.events.alerts import evaluate

    def firing(families):
        return {(s.labels["severity"], s.labels["silenced"]): s.value
                for s in families["aimatrix_alerts_firing"].samples}

    before = firing(scrape(client))
    assert before[("critical", "false")] == 0 and set(before) == {
        (sev, flag) for sev in ("info", "warning", "critical") for flag in ("true", "false")}
    start = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=8)
    samples = [gpu_sample("GPU-test-0", start + dt.timedelta(seconds=30 * i), temperature_c=92.0) for i in range(15)]
    end = start + dt.timedelta(minutes=7)
    ingest(four_gpus, record(gpu_samples=samples, at=end), source="agent", now=end)
    assert evaluate(now=end)["fired"] == 1
    after = firing(scrape(client))
    assert after[("critical", "false")] == 1 and after[("warning", "false")] == 0
