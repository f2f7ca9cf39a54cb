"""GPU test helpers: a node, and telemetry records in the format of docs/telemetry-record.md."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone


def iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def inventory_item(index: int, uuid: str | None = None, **extra) -> dict:
    return {"index": index, "uuid": uuid or f"GPU-test-{index}", "name": "NVIDIA H100 80GB HBM3",
            "memory_total_mib": 81559, "driver_version": "550.54.15", "cuda_version": "12.4",
            "pci_bus_id": f"00000000:{17 + index:02x}:00.0", "mig_mode": "Disabled", "mig_devices": [],
            "power_limit_w": 700.0, **extra}


def gpu_sample(uuid: str, ts: dt.datetime, **values) -> dict:
    sample = {"uuid": uuid, "ts": iso(ts), "utilization_pct": 50.0, "memory_used_mib": 1024, "temperature_c": 60.0,
              "power_w": 300.0, "sm_clock_mhz": 1980, "ecc_corrected": 0, "ecc_uncorrected": 0,
              "row_remap_failure": False, "throttle_reasons": []}
    sample.update(values)
    return sample


def record(*, inventory=None, gpu_samples=(), node_samples=(), events=(), at: dt.datetime | None = None) -> dict:
    at = at or timezone.now()
    out = {"version": 1, "source": "agent", "collected_at": iso(at), "hostname": "gpu-node",
           "gpu_samples": list(gpu_samples), "node_samples": list(node_samples), "events": list(events)}
    if inventory is not None:
        out["inventory"] = list(inventory)
    return out


@pytest.fixture
def gpu_node(root):
    from apps.nodes import services as nodes

    return nodes.create_node(root, name="gpu-node", address="10.0.0.50")


@pytest.fixture
def four_gpus(gpu_node):
    """gpu-node with GPUs GPU-test-0..3 in its inventory."""
    from apps.gpus.ingest import ingest

    ingest(gpu_node, record(inventory=[inventory_item(i) for i in range(4)]), source="agent")
    return gpu_node
