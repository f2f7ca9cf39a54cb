"""Drive the lab's simulated GPUs (scripts/lab/gpus/nvidia-smi) from tests.

Each lab host reads $LAB_DIR/hosts/<host>/gpus/control.json; these helpers write it atomically
(the simulator may read it at any moment from an SSH session):

    from devtools import lab_gpus
    lab_gpus.set_gpu(inventory, "lab-node1", 0, temperature_c=92)   # a hot GPU
    lab_gpus.throw_xid(inventory, "lab-node1", 1, 79)                # an XID in `dmesg`
    lab_gpus.set_gpu(inventory, "lab-node2", 3, gone=True)           # a GPU that vanished
    lab_gpus.reset(inventory, "lab-node1")                           # back to simulation
"""
from __future__ import annotations

import json
import os
from pathlib import Path

XID_MESSAGES = {13: "Graphics Engine Exception", 31: "MMU Fault", 43: "Reset Channel Verif Error",
                48: "An uncorrectable double bit error (DBE) has been detected on GPU.",
                63: "Row remapping event", 64: "Row remapping failure",
                74: "NVLink Error", 79: "GPU has fallen off the bus.", 94: "Contained ECC error",
                95: "Uncontained ECC error"}


def gpu_dir(inventory, host: str) -> Path:
    return Path(inventory.lab_dir) / "hosts" / host / "gpus"


def read_control(inventory, host: str) -> dict:
    try:
        return json.loads((gpu_dir(inventory, host) / "control.json").read_text())
    except (OSError, ValueError):
        return {}


def write_control(inventory, host: str, control: dict) -> None:
    directory = gpu_dir(inventory, host)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".control.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(control, indent=1))
    tmp.chmod(0o644)  # the lab user reads it
    os.replace(tmp, directory / "control.json")


def set_gpu(inventory, host: str, index: int, **fields) -> dict:
    """Override fields of one GPU (temperature_c, utilization_pct, ecc_uncorrected, ecc_corrected,
    row_remap_failure, throttle_reasons, gone); None removes an override."""
    control = read_control(inventory, host)
    gpu = control.setdefault("gpus", {}).setdefault(str(index), {})
    for name, value in fields.items():
        if value is None:
            gpu.pop(name, None)
        else:
            gpu[name] = value
    write_control(inventory, host, control)
    return control


def throw_xid(inventory, host: str, index: int, xid: int, message: str | None = None) -> dict:
    """Append an XID error of GPU `index` to the host's simulated kernel log (`dmesg`)."""
    control = read_control(inventory, host)
    xids = control.setdefault("xids", [])
    xids.append({"gpu": index, "xid": xid, "message": message or XID_MESSAGES.get(xid, "Xid error"),
                 "uptime": 1000.0 + len(xids)})
    write_control(inventory, host, control)
    return control


def reset(inventory, host: str) -> None:
    (gpu_dir(inventory, host) / "control.json").unlink(missing_ok=True)
