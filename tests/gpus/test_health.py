"""Health rules: XID class errors, uncorrected ECC, row-remap failure, long thermal slowdown,
missing from inventory; reasons visible; the node summary; the gpu_health_changed hook."""
import datetime as dt

import pytest
from django.utils import timezone

from apps.gpus import health
from apps.gpus.ingest import ingest
from apps.gpus.models import Gpu, GpuEvent, GpuEventKind, GpuHealth
from apps.gpus.signals import gpu_health_changed

from .conftest import gpu_sample, inventory_item, iso, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    calls = []

    def listener(sender, gpu, before, after, reason, **kwargs):
        calls.append((gpu.uuid, before, after, reason))

    gpu_health_changed.connect(listener)
    yield calls
    gpu_health_changed.disconnect(listener)


def push(node, **parts):
    return ingest(node, record(**parts), source="agent")


def gpu(uuid="GPU-test-0") -> Gpu:
    return Gpu.objects.get(uuid=uuid)


@pytest.mark.parametrize("xid", [48, 63, 64, 74, 79])
def test_failing_xids_fail_the_gpu_with_the_reason(four_gpus, heard, django_capture_on_commit_callbacks, xid):
    with django_capture_on_commit_callbacks(execute=True):
        push(four_gpus, events=[{"uuid": "GPU-test-0", "ts": iso(timezone.now()), "kind": "xid", "xid": xid,
                                 "message": "from the kernel log"}])
    assert gpu().health == GpuHealth.FAILED and gpu().health_reason.startswith(f"XID {xid} (")
    assert heard == [("GPU-test-0", "ok", "failed", gpu().health_reason)]
    assert GpuEvent.objects.filter(gpu=gpu(), kind=GpuEventKind.XID, xid=xid).exists()
    assert GpuEvent.objects.filter(gpu=gpu(), kind=GpuEventKind.HEALTH).exists()


def test_other_xids_are_recorded_without_a_verdict(four_gpus):
    push(four_gpus, events=[{"uuid": "GPU-test-0", "ts": iso(timezone.now()), "kind": "xid", "xid": 13,
                             "message": "graphics engine exception"}])
    assert gpu().health == GpuHealth.OK
    assert GpuEvent.objects.filter(kind=GpuEventKind.XID, xid=13).count() == 1


@pytest.mark.parametrize("values, reason", [
    ({"ecc_uncorrected": 2}, "uncorrected ECC errors: 2"),
    ({"row_remap_failure": True}, "row remapping failure"),
])
def test_memory_errors_fail_the_gpu(four_gpus, values, reason):
    push(four_gpus, gpu_samples=[gpu_sample("GPU-test-1", timezone.now(), **values)])
    assert (gpu("GPU-test-1").health, gpu("GPU-test-1").health_reason) == (GpuHealth.FAILED, reason)


def test_thermal_slowdown_degrades_only_after_the_configured_minutes_and_recovers(four_gpus, settings):
    settings.GPU_THERMAL_DEGRADED_MINUTES = 5
    start = timezone.now() - dt.timedelta(minutes=20)
    hot = ["hw_thermal_slowdown"]
    push(four_gpus, gpu_samples=[gpu_sample("GPU-test-0", start + dt.timedelta(minutes=m), throttle_reasons=hot)
                                 for m in range(5)])  # 4 minutes of slowdown
    assert gpu().health == GpuHealth.OK and gpu().thermal_throttle_since is not None
    push(four_gpus, gpu_samples=[gpu_sample("GPU-test-0", start + dt.timedelta(minutes=6), throttle_reasons=hot)])
    assert gpu().health == GpuHealth.DEGRADED and gpu().health_reason == "thermal slowdown for 6 min"
    push(four_gpus, gpu_samples=[gpu_sample("GPU-test-0", start + dt.timedelta(minutes=7), throttle_reasons=[])])
    assert gpu().health == GpuHealth.OK and gpu().thermal_throttle_since is None


def test_a_break_in_the_slowdown_restarts_the_clock(four_gpus, settings):
    settings.GPU_THERMAL_DEGRADED_MINUTES = 5
    start = timezone.now() - dt.timedelta(minutes=20)
    reasons = [["sw_thermal_slowdown"]] * 4 + [[]] + [["sw_thermal_slowdown"]] * 4
    push(four_gpus, gpu_samples=[gpu_sample("GPU-test-0", start + dt.timedelta(minutes=m), throttle_reasons=r)
                                 for m, r in enumerate(reasons)])
    assert gpu().health == GpuHealth.OK


def test_power_capping_is_not_thermal(four_gpus, settings):
    settings.GPU_THERMAL_DEGRADED_MINUTES = 1
    start = timezone.now() - dt.timedelta(minutes=10)
    push(four_gpus, gpu_samples=[gpu_sample("GPU-test-0", start + dt.timedelta(minutes=m),
                                            throttle_reasons=["sw_power_cap"]) for m in range(5)])
    assert gpu().health == GpuHealth.OK


def test_rules_escalate_but_leave_maintenance_alone(four_gpus, root):
    from apps.gpus import services

    services.update_gpu(root, gpu(), health=GpuHealth.MAINTENANCE, health_reason="firmware update")
    push(four_gpus, gpu_samples=[gpu_sample("GPU-test-0", timezone.now(), ecc_uncorrected=1)])
    assert (gpu().health, gpu().health_reason) == (GpuHealth.MAINTENANCE, "firmware update")
    # A failed GPU is not "healed" by a degraded verdict, nor by clean samples.
    push(four_gpus, gpu_samples=[gpu_sample("GPU-test-1", timezone.now(), row_remap_failure=True)])
    push(four_gpus, gpu_samples=[gpu_sample("GPU-test-1", timezone.now() + dt.timedelta(seconds=1))])
    assert gpu("GPU-test-1").health == GpuHealth.FAILED


def test_node_summary_is_the_worst_of_its_gpus(four_gpus):
    assert health.node_summary(four_gpus)["health"] == "ok"
    push(four_gpus, gpu_samples=[gpu_sample("GPU-test-3", timezone.now(), ecc_uncorrected=1)])
    summary = health.node_summary(four_gpus)
    assert (summary["health"], summary["gpus"], summary["ok"], summary["failed"]) == ("failed", 4, 3, 1)


def test_a_vanished_gpu_makes_the_node_failed(four_gpus):
    push(four_gpus, inventory=[inventory_item(i) for i in range(3)])
    summary = health.node_summary(four_gpus)
    assert (summary["health"], summary["gpus"], summary["missing"]) == ("failed", 3, 1)


def test_a_node_without_gpus_has_no_gpu_health(gpu_node):
    assert health.node_summary(gpu_node)["health"] == "none"
