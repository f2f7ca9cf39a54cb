"""The agent's NVML path on a real GPU. Skipped, with NVML's own reason, where nvidia-ml-py cannot
start NVML (no driver, no GPU): never faked. Needs nothing but the agent and nvidia-ml-py, so it
also runs on a bare GPU machine (`pytest --noconftest tests/agent/test_nvml.py`)."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aimatrix_agent import nvsmi
from aimatrix_agent.nvml_source import NvmlSource, NvmlUnavailable

ROOT = Path(__file__).resolve().parents[2]


def _why_not() -> str | None:
    try:
        NvmlSource().open().close()
    except NvmlUnavailable as exc:
        return f"no GPU reachable through NVML here: {exc}"
    return None


REASON = _why_not()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

RECORD_KEYS = {"index", "uuid", "name", "memory_total_mib", "driver_version", "cuda_version", "pci_bus_id",
               "mig_mode", "mig_devices", "power_limit_w"}
SAMPLE_KEYS = {"uuid", "ts", "utilization_pct", "memory_used_mib", "temperature_c", "power_w", "sm_clock_mhz",
               "ecc_corrected", "ecc_uncorrected", "row_remap_failure", "throttle_reasons"}


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_nvml():
    source = NvmlSource().open()
    try:
        ts = now()
        inventory, samples = source.read(ts)
        events = source.events(ts, wait_ms=100)
    finally:
        source.close()
    return inventory, samples, events


def test_nvml_reads_this_machines_gpus():
    inventory, samples, events = read_nvml()
    assert inventory, "NVML started but listed no GPU"
    assert [set(i) for i in inventory] == [RECORD_KEYS] * len(inventory)
    assert [set(s) for s in samples] == [SAMPLE_KEYS] * len(samples)
    assert [i["uuid"] for i in inventory] == [s["uuid"] for s in samples]
    assert all(i["uuid"].startswith("GPU-") and i["memory_total_mib"] > 0 for i in inventory)
    assert all(i["driver_version"] and i["cuda_version"] for i in inventory)
    for sample in samples:
        assert 0 < sample["temperature_c"] < 120 and sample["power_w"] > 0
        assert 0 <= sample["memory_used_mib"] <= next(i["memory_total_mib"] for i in inventory
                                                      if i["uuid"] == sample["uuid"])
        assert set(sample["throttle_reasons"]) <= set(nvsmi.THROTTLE_REASON_NAMES)
    for event in events:  # an XID on a lent machine is possible, never made up
        assert event["kind"] == "xid" and isinstance(event["xid"], int)
    print(json.dumps({"inventory": inventory, "gpu_samples": samples, "events": events}, indent=1))


@pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="nvidia-smi is not installed here")
def test_nvml_and_nvidia_smi_agree():
    inventory, samples, _events = read_nvml()
    smi = nvsmi.parse_query_gpu(subprocess.run(list(nvsmi.QUERY_GPU_ARGV), capture_output=True, text=True,
                                               check=True, timeout=60).stdout)
    assert [g["uuid"] for g in smi] == [i["uuid"] for i in inventory]
    for gpu, item in zip(smi, inventory):
        assert (gpu["name"], gpu["pci_bus_id"], gpu["driver_version"], gpu["mig_mode"]) == (
            item["name"], item["pci_bus_id"], item["driver_version"], item["mig_mode"])
        assert abs(gpu["memory_total_mib"] - item["memory_total_mib"]) <= 1
        assert gpu["power_limit_w"] == pytest.approx(item["power_limit_w"], abs=1)


def test_agent_process_uses_nvml(tmp_path):
    """The CLI picks NVML when it works and writes a batch with the GPUs (portal unreachable: kept)."""
    token = tmp_path / "token"
    token.write_text("anc1.abc.def\n")
    result = subprocess.run(
        [sys.executable, "-m", "aimatrix_agent", "--url", "http://127.0.0.1:9", "--token-file", str(token),
         "--buffer-dir", str(tmp_path / "buffer"), "--once"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 75, result.stderr
    assert "reading GPUs through nvml" in result.stderr
    batch = json.loads(next((tmp_path / "buffer").glob("batch-*.json")).read_text())
    assert batch["inventory"] and len(batch["gpu_samples"]) == len(batch["inventory"])
