"""nvidia-smi parsing against real output captured on real machines (tests/agent/samples/README.md:
drivers 466, 515, 535, 590, 595, 610; MIG on H100/H200/A100)."""
from __future__ import annotations

from pathlib import Path

import pytest

from aimatrix_agent import nvsmi

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


@pytest.mark.parametrize("name,expected", [
    ("query-gpu_h100-80gb-hbm3_590.48.01.csv",
     {"name": "NVIDIA H100 80GB HBM3", "driver_version": "590.48.01", "memory_total_mib": 81559,
      "memory_used_mib": 19818, "utilization_pct": 100.0, "temperature_c": 59.0, "power_w": 631.95,
      "power_limit_w": 700.0, "sm_clock_mhz": 1980, "mig_mode": "Disabled", "ecc_corrected": 0,
      "ecc_uncorrected": 0, "throttle_reasons": [], "pci_bus_id": "00000000:00:09.0", "index": 0}),
    # MIG enabled: the whole-GPU utilisation is [N/A] on a real driver -> None, never 0.
    ("query-gpu_h100-mig_590.48.01.csv",
     {"mig_mode": "Enabled", "utilization_pct": None, "memory_used_mib": 11125, "temperature_c": 53.0}),
    ("query-gpu_h200-mig_590.48.01.csv",
     {"name": "NVIDIA H200", "mig_mode": "Enabled", "utilization_pct": None, "memory_total_mib": 143771}),
    ("query-gpu_l40s_595.80.csv",
     {"name": "NVIDIA L40S", "driver_version": "595.80", "utilization_pct": 9.0, "power_limit_w": 350.0,
      "mig_mode": None, "sm_clock_mhz": 2520}),
    # A GeForce: no ECC ([N/A]) and no MIG.
    ("query-gpu_geforce-rtx-2080-super_610.57.04.csv",
     {"name": "NVIDIA GeForce RTX 2080 SUPER", "ecc_corrected": None, "ecc_uncorrected": None, "mig_mode": None,
      "utilization_pct": 8.0, "power_w": 98.14}),
])
def test_query_gpu_with_header_and_units(name, expected):
    gpus = nvsmi.parse_query_gpu(sample(name), fields=None)
    assert len(gpus) == 1
    assert {k: gpus[0][k] for k in expected} == expected


def test_query_gpu_two_gpus_old_driver_lacks_fields():
    gpus = nvsmi.parse_query_gpu(sample("query-gpu_two-gpus-windows_466.63.csv"), fields=None)
    assert [g["index"] for g in gpus] == [0, 1]
    assert [g["uuid"] for g in gpus] == ["GPU-df6e7a7c-7314-46f8-abc4-b88b36dcf3aa",
                                         "GPU-04757e3e-3077-4e2e-b988-7e2d647b52e9"]
    assert gpus[0]["memory_used_mib"] == 575 and gpus[0]["driver_version"] == "466.63"
    # Fields the answer does not carry are unknown, not zero.
    assert gpus[0]["temperature_c"] is None and gpus[0]["throttle_reasons"] is None


def test_query_gpu_our_fields_noheader_nounits():
    line = ("0, GPU-5d3c0000-1111-2222-3333-444455556666, NVIDIA H100 80GB HBM3, 00000000:17:00.0, 550.54.15, "
            "81559, 40960, 97, 71, 612.40, 700.00, 1980, Disabled, 0, [N/A], 0x0000000000000044\n"
            "1, GPU-aaaa0000-1111-2222-3333-444455556666, NVIDIA H100 80GB HBM3, 00000000:2A:00.0, 550.54.15, "
            "81559, [N/A], [Not Supported], [Unknown Error], [N/A], 700.00, 1980, Enabled, 0, 0, [N/A]\n")
    first, second = nvsmi.parse_query_gpu(line)
    assert first["utilization_pct"] == 97.0 and first["power_w"] == 612.4 and first["ecc_uncorrected"] is None
    assert first["throttle_reasons"] == ["sw_power_cap", "hw_thermal_slowdown"]
    assert second["memory_used_mib"] is None and second["utilization_pct"] is None
    assert second["temperature_c"] is None and second["throttle_reasons"] is None


def test_query_gpu_wrong_column_count_is_an_error():
    with pytest.raises(nvsmi.NvsmiParseError, match="row 0"):
        nvsmi.parse_query_gpu("0, GPU-x, NVIDIA A100\n")


def test_list_gpus_with_mig_devices():
    gpus = nvsmi.parse_list_gpus(sample("list-gpus_h100-mig_590.48.01.txt"))
    assert len(gpus) == 1
    assert [(m["device"], m["profile"]) for m in gpus[0]["mig_devices"]] == [
        (0, "3g.40gb"), (1, "2g.20gb"), (2, "1g.10gb"), (3, "1g.10gb")]
    h200 = nvsmi.parse_list_gpus(sample("list-gpus_h200-mig_590.48.01.txt"))[0]
    assert [m["profile"] for m in h200["mig_devices"]] == ["1c.3g.71gb", "2c.3g.71gb", "2g.35gb", "1g.18gb", "1g.18gb"]
    plain = nvsmi.parse_list_gpus(sample("list-gpus_l40s_595.80.txt"))
    assert plain == [{"index": 0, "name": "NVIDIA L40S", "uuid": "GPU-00000000-0000-0000-0000-000000000000",
                      "mig_devices": []}]


def test_list_gpus_rejects_other_text():
    with pytest.raises(nvsmi.NvsmiParseError):
        nvsmi.parse_list_gpus("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")


def test_query_xml_v12_mig():
    log = nvsmi.parse_query_xml(sample("query-xml_a100-sxm4-v12.xml"))
    assert (log["driver_version"], log["cuda_version"]) == ("535.54.03", "12.2")
    gpu = log["gpus"][0]
    assert gpu["uuid"] == "GPU-513536b6-7d19-9063-b049-1e69664bb298"
    assert gpu["mig_mode"] == "Enabled" and gpu["utilization_pct"] is None
    assert (gpu["power_w"], gpu["power_limit_w"], gpu["sm_clock_mhz"]) == (67.03, 500.0, 1275)
    assert (gpu["ecc_corrected"], gpu["ecc_uncorrected"], gpu["row_remap_failure"]) == (0, 0, None)
    assert [(m["gpu_instance"], m["compute_instance"], m["memory_total_mib"]) for m in gpu["mig_devices"]] == [
        (3, 0, 19968), (4, 0, 19968), (5, 0, 19968), (6, 0, 19968)]


def test_query_xml_v11_remapped_rows_and_throttle():
    a10g = nvsmi.parse_query_xml(sample("query-xml_a10g.xml"))["gpus"][0]
    assert a10g["row_remap_failure"] is False and a10g["throttle_reasons"] == ["gpu_idle"]
    assert (a10g["power_w"], a10g["power_limit_w"]) == (25.58, 300.0)
    t4 = nvsmi.parse_query_xml(sample("query-xml_tesla-t4.xml"))
    assert t4["driver_version"] == "515.105.01"
    assert t4["gpus"][0]["name"] == "Tesla T4" and t4["gpus"][0]["temperature_c"] == 40.0


def test_query_xml_v13_instant_power_and_no_ecc():
    gpu = nvsmi.parse_query_xml(sample("query-xml_rtx-3080-v13.xml"))["gpus"][0]
    assert gpu["power_w"] == 142.33 and gpu["power_limit_w"] == 320.0
    assert gpu["ecc_corrected"] is None and gpu["ecc_uncorrected"] is None  # all N/A on a GeForce
    assert gpu["mig_mode"] is None and gpu["mig_devices"] == []


def test_query_xml_rejects_non_smi_documents():
    with pytest.raises(nvsmi.NvsmiParseError):
        nvsmi.parse_query_xml("<html></html>")
    with pytest.raises(nvsmi.NvsmiParseError):
        nvsmi.parse_query_xml("Failed to initialize NVML: Driver/library version mismatch")


def test_merge_mig_and_record_parts():
    xml = {"gpus": [{"uuid": "GPU-00000000-0000-0000-0000-000000000000",
                     "mig_devices": [{"device": 0, "gpu_instance": 1, "compute_instance": 0,
                                      "memory_total_mib": 40192}]}]}
    mig = nvsmi.merge_mig(nvsmi.parse_list_gpus(sample("list-gpus_h100-mig_590.48.01.txt")), xml)
    devices = mig["GPU-00000000-0000-0000-0000-000000000000"]
    assert devices[0] == {"gpu_instance": 1, "compute_instance": 0, "uuid": "MIG-00000000-0000-0000-0000-000000000000",
                          "profile": "3g.40gb", "memory_total_mib": 40192}
    assert devices[3]["gpu_instance"] is None and devices[3]["profile"] == "1g.10gb"  # not in this -q -x
    gpus = nvsmi.parse_query_gpu(sample("query-gpu_h100-mig_590.48.01.csv"), fields=None)
    inventory, samples = nvsmi.to_record_parts(gpus, "2026-11-30T08:00:00Z", cuda_version="13.1", mig_devices=mig,
                                               remapped={gpus[0]["uuid"]: {"failure": True}})
    assert inventory[0]["mig_devices"] == devices and inventory[0]["cuda_version"] == "13.1"
    assert samples[0]["row_remap_failure"] is True and samples[0]["utilization_pct"] is None


def test_remapped_rows():
    text = "GPU-aaaa, 0, 1, No, Yes\nGPU-bbbb, [N/A], [N/A], [N/A], [N/A]\n"
    assert nvsmi.parse_remapped_rows(text) == {
        "GPU-aaaa": {"correctable": 0, "uncorrectable": 1, "pending": False, "failure": True},
        "GPU-bbbb": {"correctable": None, "uncorrectable": None, "pending": None, "failure": None}}


def test_xid_kernel_lines_match_gpus_by_bus_id():
    log = ("[ 1234.567890] NVRM: Xid (PCI:0000:17:00): 79, pid=4242, name=python, GPU has fallen off the bus.\n"
           "[ 1240.000000] usb 1-1: new device\n"
           "[ 1250.100000] NVRM: Xid (PCI:0000:2a:00): 48, pid='<unknown>', name=<unknown>, "
           "An uncorrectable double bit error (DBE) has been detected on GPU.\n")
    entries = nvsmi.parse_xid_log(log)
    assert [(e["pci_bus_id"], e["xid"]) for e in entries] == [("0000:17:00", 79), ("0000:2a:00", 48)]
    assert entries[0]["message"] == "GPU has fallen off the bus."
    gpus = [{"uuid": "GPU-a", "pci_bus_id": "00000000:17:00.0"}, {"uuid": "GPU-b", "pci_bus_id": "00000000:2A:00.0"}]
    events = nvsmi.xid_events(entries, gpus, "2026-11-30T08:00:00Z")
    assert [(e["uuid"], e["xid"], e["kind"]) for e in events] == [("GPU-a", 79, "xid"), ("GPU-b", 48, "xid")]


def test_version_lines():
    text = ("NVIDIA-SMI version  : 590.48.01\nNVML version        : 590.48\n"
            "DRIVER version      : 590.48.01\nCUDA Version        : 13.1\n")
    assert nvsmi.parse_version(text) == {"driver_version": "590.48.01", "cuda_version": "13.1"}


@pytest.mark.parametrize("raw,expected", [("[N/A]", None), ("N/A", None), ("[Not Supported]", None),
                                          ("[Requested functionality has been deprecated]", None),
                                          ("612.40 W", 612.4), (" 97 %", 97.0), ("81559 MiB", 81559.0), ("nan", None)])
def test_number_cells(raw, expected):
    assert nvsmi.number(raw) == expected
