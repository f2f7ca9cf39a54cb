"""Ingest: validation by index and field, all-or-nothing batches, inventory upsert."""
import datetime as dt

import pytest
from django.utils import timezone

from apps.core.errors import InvalidInput
from apps.core.models import AuditEvent
from apps.gpus.ingest import ingest
from apps.gpus.models import Gpu, GpuEvent, GpuEventKind, GpuHealth, GpuSample, NodeSample

from .conftest import gpu_sample, inventory_item, iso, record

pytestmark = pytest.mark.django_db


def refused(node, rec) -> dict:
    with pytest.raises(InvalidInput) as exc:
        ingest(node, rec, source="agent")
    return exc.value.errors


def test_a_record_is_stored_whole(four_gpus):
    now = timezone.now()
    rec = record(gpu_samples=[gpu_sample(f"GPU-test-{i}", now - dt.timedelta(seconds=s)) for i in range(4)
                              for s in range(0, 50, 5)],
                 node_samples=[{"ts": iso(now), "cpu_pct": 12.5, "load1": 3.0, "memory_used_bytes": 1e9,
                                "memory_total_bytes": 4e9, "net_rx_bps": None, "net_tx_bps": None,
                                "disk_read_bps": 10.0, "disk_write_bps": 20.0}])
    result = ingest(four_gpus, rec, source="agent")
    assert (result.gpu_samples, result.node_samples) == (40, 1)
    assert GpuSample.objects.count() == 40
    node_sample = NodeSample.objects.get()
    assert node_sample.net_rx_bps is None and node_sample.cpu_pct == 12.5  # unknown stays null
    gpu = Gpu.objects.get(uuid="GPU-test-2")
    assert gpu.last_sample["utilization_pct"] == 50.0 and gpu.last_sample_at == now.replace(microsecond=now.microsecond)


def test_a_batch_sent_again_stores_nothing_twice(four_gpus):
    """The agent resends a batch whose answer was lost: the samples are stored once, and counted."""
    now = timezone.now()
    node = {"ts": iso(now), "cpu_pct": 1.0, "load1": 0.1, "memory_used_bytes": 1.0, "memory_total_bytes": 2.0,
            "net_rx_bps": None, "net_tx_bps": None, "disk_read_bps": None, "disk_write_bps": None}
    samples = [gpu_sample(f"GPU-test-{i}", now - dt.timedelta(seconds=s)) for i in range(4) for s in (0, 5)]
    first = ingest(four_gpus, record(gpu_samples=samples, node_samples=[node]), source="agent")
    later = gpu_sample("GPU-test-0", now + dt.timedelta(seconds=5))
    again = ingest(four_gpus, record(gpu_samples=[*samples, later], node_samples=[node]), source="agent")
    assert (first.gpu_samples, first.node_samples, first.duplicates) == (8, 1, 0)
    assert (again.gpu_samples, again.node_samples, again.duplicates) == (1, 0, 9)
    assert GpuSample.objects.count() == 9 and NodeSample.objects.count() == 1


@pytest.mark.parametrize("bad, path", [
    ({"temperature_c": "hot"}, "gpu_samples[7].temperature_c"),
    ({"utilization_pct": 140.0}, "gpu_samples[7].utilization_pct"),
    ({"ts": "yesterday"}, "gpu_samples[7].ts"),
    ({"ts": "2026-11-30T08:00:00"}, "gpu_samples[7].ts"),  # no zone
    ({"throttle_reasons": ["too_hot"]}, "gpu_samples[7].throttle_reasons[0]"),
    ({"ecc_uncorrected": -1}, "gpu_samples[7].ecc_uncorrected"),
    ({"row_remap_failure": "no"}, "gpu_samples[7].row_remap_failure"),
    ({"uuid": "GPU-not-here"}, "gpu_samples[7].uuid"),
])
def test_a_bad_sample_is_refused_by_index_and_field_and_nothing_is_written(four_gpus, bad, path):
    now = timezone.now()
    samples = [gpu_sample("GPU-test-0", now - dt.timedelta(seconds=i)) for i in range(10)]
    samples[7].update(bad)
    rec = record(inventory=[inventory_item(i) for i in range(4)] + [inventory_item(4, "GPU-new")],
                 gpu_samples=samples)
    errors = refused(four_gpus, rec)
    assert list(errors) == [path]
    assert GpuSample.objects.count() == 0
    assert not Gpu.objects.filter(uuid="GPU-new").exists()  # the inventory part was not kept either


def test_an_unknown_uuid_after_a_valid_inventory_rolls_back_the_inventory(four_gpus):
    rec = record(inventory=[inventory_item(i) for i in range(3)] + [inventory_item(5, "GPU-brand-new")],
                 gpu_samples=[gpu_sample("GPU-elsewhere", timezone.now())])
    assert list(refused(four_gpus, rec)) == ["gpu_samples[0].uuid"]
    assert not Gpu.objects.filter(uuid="GPU-brand-new").exists()
    assert Gpu.objects.get(uuid="GPU-test-3").present  # not marked missing by the refused batch


@pytest.mark.parametrize("rec, path", [
    ({"version": 2}, "version"),
    ({"inventory": [inventory_item(0), inventory_item(0, "GPU-other")]}, "inventory[1].index"),
    ({"inventory": [inventory_item(0), inventory_item(1, "GPU-test-0")]}, "inventory[1].uuid"),
    ({"inventory": [inventory_item(0, mig_mode="Sometimes")]}, "inventory[0].mig_mode"),
    ({"inventory": [inventory_item(i, f"GPU-{i}") for i in range(65)]}, "inventory"),
    ({"node_samples": [{"ts": iso(timezone.now()), "cpu_pct": float("nan")}]}, "node_samples[0].cpu_pct"),
    ({"events": [{"uuid": "GPU-test-0", "ts": iso(timezone.now()), "kind": "reboot", "xid": 1}]},
     "events[0].kind"),
    ({"hostname": "x" * 201}, "hostname"),
])
def test_record_level_refusals_name_the_field(four_gpus, rec, path):
    assert list(refused(four_gpus, {"version": 1, **rec})) == [path]


def test_non_finite_numbers_are_refused(four_gpus):
    rec = record(node_samples=[{"ts": iso(timezone.now()), "load1": float("inf")}])
    assert refused(four_gpus, rec) == {"node_samples[0].load1": ["Must be a finite number."]}


def test_samples_outside_the_retention_or_far_ahead_are_refused(four_gpus, settings):
    settings.GPU_SAMPLE_RETENTION_DAYS = 2
    old = record(gpu_samples=[gpu_sample("GPU-test-0", timezone.now() - dt.timedelta(days=3))])
    ahead = record(gpu_samples=[gpu_sample("GPU-test-0", timezone.now() + dt.timedelta(hours=2))])
    assert list(refused(four_gpus, old)) == ["gpu_samples[0].ts"]
    assert list(refused(four_gpus, ahead)) == ["gpu_samples[0].ts"]


def test_new_gpus_are_created_with_one_audit_entry_per_batch(gpu_node):
    result = ingest(gpu_node, record(inventory=[inventory_item(i) for i in range(3)]), source="agentless")
    assert sorted(result.inventory["added"]) == ["GPU-test-0", "GPU-test-1", "GPU-test-2"]
    assert Gpu.objects.filter(node=gpu_node, present=True).count() == 3
    assert AuditEvent.objects.filter(action="gpu.inventory").count() == 1
    assert GpuEvent.objects.filter(kind=GpuEventKind.DISCOVERED).count() == 3


def test_samples_alone_write_no_audit_entry(four_gpus):
    before = AuditEvent.objects.count()
    ingest(four_gpus, record(inventory=[inventory_item(i) for i in range(4)],
                             gpu_samples=[gpu_sample("GPU-test-0", timezone.now())]), source="agent")
    assert AuditEvent.objects.count() == before


def test_a_vanished_gpu_is_marked_missing_and_failed_never_deleted(four_gpus):
    result = ingest(four_gpus, record(inventory=[inventory_item(i) for i in (0, 1, 3)]), source="agent")
    assert result.inventory["missing"] == ["GPU-test-2"]
    gone = Gpu.objects.get(uuid="GPU-test-2")
    assert (gone.present, gone.health, gone.health_reason) == (False, GpuHealth.FAILED, "missing from inventory")
    assert GpuEvent.objects.filter(gpu=gone, kind=GpuEventKind.MISSING).exists()
    # It comes back: present again, and healthy again (only the missing verdict is lifted).
    result = ingest(four_gpus, record(inventory=[inventory_item(i) for i in range(4)]), source="agent")
    back = Gpu.objects.get(uuid="GPU-test-2")
    assert result.inventory["returned"] == ["GPU-test-2"]
    assert (back.present, back.health) == (True, GpuHealth.OK)


def test_a_record_without_inventory_leaves_the_inventory_alone(four_gpus):
    ingest(four_gpus, record(gpu_samples=[gpu_sample("GPU-test-0", timezone.now())]), source="agent")
    assert Gpu.objects.filter(node=four_gpus, present=True).count() == 4


def test_an_empty_inventory_means_every_gpu_vanished(four_gpus):
    ingest(four_gpus, record(inventory=[]), source="agent")
    assert not Gpu.objects.filter(node=four_gpus, present=True).exists()
    assert Gpu.objects.filter(node=four_gpus).count() == 4


def test_a_changed_uuid_at_the_same_index_is_an_event(four_gpus):
    result = ingest(four_gpus, record(inventory=[inventory_item(0, "GPU-replacement"),
                                                 *[inventory_item(i) for i in (1, 2, 3)]]), source="agent")
    assert result.inventory["uuid_changed"] == [{"index": 0, "before": "GPU-test-0", "after": "GPU-replacement"}]
    event = GpuEvent.objects.get(kind=GpuEventKind.UUID_CHANGED)
    assert event.gpu.uuid == "GPU-replacement" and event.data["before"] == "GPU-test-0"
    assert not Gpu.objects.get(uuid="GPU-test-0").present
    assert Gpu.objects.get(node=four_gpus, index=0, present=True).uuid == "GPU-replacement"


def test_inventory_fields_are_updated(four_gpus):
    ingest(four_gpus, record(inventory=[inventory_item(0, driver_version="560.28.03", mig_mode="Enabled",
                                                       mig_devices=[{"gpu_instance": 1, "compute_instance": 0,
                                                                     "uuid": "MIG-1", "profile": "1g.10gb",
                                                                     "memory_total_mib": 9984}]),
                                        *[inventory_item(i) for i in (1, 2, 3)]]), source="agent")
    gpu = Gpu.objects.get(uuid="GPU-test-0")
    assert (gpu.driver_version, gpu.mig_mode, gpu.mig_devices[0]["profile"]) == ("560.28.03", "Enabled", "1g.10gb")
    assert AuditEvent.objects.filter(action="gpu.inventory").latest("pk").changes["after"]["changed"] == [
        {"uuid": "GPU-test-0", "fields": ["driver_version", "mig_mode", "mig_devices"]}]


def test_a_gpu_moved_to_another_node_follows_it(four_gpus, root):
    from apps.nodes import services as nodes

    other = nodes.create_node(root, name="gpu-node-2", address="10.0.0.51")
    result = ingest(other, record(inventory=[inventory_item(0, "GPU-test-1")]), source="agent")
    assert result.inventory["moved"] == ["GPU-test-1"]
    assert Gpu.objects.get(uuid="GPU-test-1").node == other
