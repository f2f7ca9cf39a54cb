"""Parse `nvidia-smi` output into the telemetry record's GPU parts. Pure: text in, dicts out.

Used by the node agent when NVML is missing and by the portal's agentless collection over SSH,
so both produce the same record (docs/telemetry-record.md). Nothing here runs a process.

Commands whose output is parsed here (argv lists, see the *_ARGV constants):
  nvidia-smi --query-gpu=<QUERY_GPU_FIELDS> --format=csv,noheader,nounits   -> parse_query_gpu
  nvidia-smi -L                                                            -> parse_list_gpus
  nvidia-smi -q -x                                                         -> parse_query_xml
  nvidia-smi --query-remapped-rows=<REMAPPED_ROWS_FIELDS> --format=csv,noheader,nounits
                                                                           -> parse_remapped_rows
  kernel log lines "NVRM: Xid (PCI:...): 79, ..." (dmesg)                  -> parse_xid_log

Unknown values (`[N/A]`, `N/A`, `[Not Supported]`, `[Unknown Error]`, `[Requested functionality
has been deprecated]`, ...) become None, never 0.
"""
from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET

# The fields we ask for. `clocks_throttle_reasons.active` is accepted by old drivers and, as an
# alias of `clocks_event_reasons.active`, by new ones; `clocks.sm` likewise (alias clocks.current.sm).
QUERY_GPU_FIELDS = (
    "index", "uuid", "name", "pci.bus_id", "driver_version", "memory.total", "memory.used",
    "utilization.gpu", "temperature.gpu", "power.draw", "power.limit", "clocks.sm",
    "mig.mode.current", "ecc.errors.corrected.volatile.total", "ecc.errors.uncorrected.volatile.total",
    "clocks_throttle_reasons.active",
)
QUERY_GPU_ARGV = ("nvidia-smi", "--query-gpu=" + ",".join(QUERY_GPU_FIELDS), "--format=csv,noheader,nounits")
LIST_GPUS_ARGV = ("nvidia-smi", "-L")
QUERY_XML_ARGV = ("nvidia-smi", "-q", "-x")
VERSION_ARGV = ("nvidia-smi", "--version")  # drivers from about 525 on
REMAPPED_ROWS_FIELDS = ("gpu_uuid", "remapped_rows.correctable", "remapped_rows.uncorrectable",
                        "remapped_rows.pending", "remapped_rows.failure")
REMAPPED_ROWS_ARGV = ("nvidia-smi", "--query-remapped-rows=" + ",".join(REMAPPED_ROWS_FIELDS),
                      "--format=csv,noheader,nounits")

# Bits of nvmlClocksEventReasons (same values in NVML and in nvidia-smi's hex mask).
THROTTLE_REASON_BITS = (
    (0x1, "gpu_idle"), (0x2, "applications_clocks_setting"), (0x4, "sw_power_cap"), (0x8, "hw_slowdown"),
    (0x10, "sync_boost"), (0x20, "sw_thermal_slowdown"), (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"), (0x100, "display_clock_setting"),
)
THROTTLE_REASON_NAMES = tuple(name for _bit, name in THROTTLE_REASON_BITS)

_UNIT_SUFFIX = re.compile(r"\s*(%|MiB|GiB|KiB|W|MHz|C|us|KB/s|bank\(s\))$")
_UNKNOWN = {"n/a", "[n/a]", "na", "none", "", "[not supported]", "not supported", "[unknown error]",
            "unknown error", "[requested functionality has been deprecated]",
            "requested functionality has been deprecated", "[gpu is lost]", "[insufficient permissions]"}


class NvsmiParseError(ValueError):
    """The text is not output of the command we expected."""


# --- values --------------------------------------------------------------------------------
def clean(value: str | None) -> str | None:
    """A cell without surrounding space; None for every way nvidia-smi says 'unknown'."""
    if value is None:
        return None
    text = value.strip()
    if text.lower() in _UNKNOWN or (text.startswith("[") and text.endswith("]")):
        return None
    return text


def number(value: str | None) -> float | None:
    """'612.40 W' / '612.40' / '97 %' -> float; unknown -> None."""
    text = clean(value)
    if text is None:
        return None
    text = _UNIT_SUFFIX.sub("", text)
    try:
        result = float(text)
    except ValueError:
        return None
    return result if result == result and result not in (float("inf"), float("-inf")) else None


def integer(value: str | None) -> int | None:
    result = number(value)
    return None if result is None else int(result)


def mig_mode(value: str | None) -> str | None:
    text = clean(value)
    if text is None:
        return None
    return {"enabled": "Enabled", "disabled": "Disabled"}.get(text.lower())


def throttle_reasons(mask: str | int | None) -> list[str] | None:
    """'0x0000000000000044' or 68 -> ['sw_thermal_slowdown'...]; unknown -> None."""
    if isinstance(mask, int):
        value = mask
    else:
        text = clean(mask)
        if text is None:
            return None
        try:
            value = int(text, 16) if text.lower().startswith("0x") else int(text)
        except ValueError:
            return None
    return [name for bit, name in THROTTLE_REASON_BITS if value & bit]


def yes_no(value: str | None) -> bool | None:
    text = clean(value)
    if text is None:
        return None
    lowered = text.lower()
    if lowered in ("yes", "true", "1", "active"):
        return True
    if lowered in ("no", "false", "0", "not active"):
        return False
    return None


# --- --query-gpu CSV -----------------------------------------------------------------------
def _header_name(cell: str) -> str:
    return re.sub(r"\s*\[[^\]]*\]$", "", cell.strip())  # "memory.used [MiB]" -> "memory.used"


def parse_csv_rows(csv_text: str, fields=None) -> list[dict]:
    """Rows of a `--format=csv[,noheader][,nounits]` answer as {field: raw cell}.

    Without `fields` the first line must be the header (`--format=csv`); with `fields` a header
    line is still recognised and skipped. A row with the wrong number of cells is an error: the
    command's answer does not fit the question asked.
    """
    lines = [line for line in csv_text.splitlines() if line.strip()]
    if not lines:
        return []
    rows = list(csv.reader(lines, skipinitialspace=True))
    first = [_header_name(cell) for cell in rows[0]]
    if fields is None:
        fields, rows = first, rows[1:]
    elif first == list(fields):
        rows = rows[1:]
    fields = list(fields)
    out = []
    for number_, row in enumerate(rows):
        if len(row) != len(fields):
            raise NvsmiParseError(f"row {number_}: {len(row)} values for {len(fields)} fields: {', '.join(row)[:200]}")
        out.append(dict(zip(fields, (cell.strip() for cell in row))))
    return out


def _field(row: dict, *names):
    for name in names:
        if name in row:
            return row[name]
    return None


def parse_query_gpu(csv_text: str, fields=QUERY_GPU_FIELDS) -> list[dict]:
    """`--query-gpu` output -> one dict per GPU with the record's inventory and sample keys.

    Keys: index, uuid, name, pci_bus_id, driver_version, memory_total_mib, memory_used_mib,
    utilization_pct, temperature_c, power_w, power_limit_w, sm_clock_mhz, mig_mode,
    ecc_corrected, ecc_uncorrected, throttle_reasons (list of names or None).
    Works with our field list (noheader, nounits) and with any header-carrying answer that has
    these fields under their current or older names (units in cells are stripped).
    """
    gpus = []
    for row in parse_csv_rows(csv_text, fields):
        gpus.append({
            "index": integer(_field(row, "index")),
            "uuid": clean(_field(row, "uuid")),
            "name": clean(_field(row, "name", "gpu_name")),
            "pci_bus_id": clean(_field(row, "pci.bus_id", "gpu_bus_id")),
            "driver_version": clean(_field(row, "driver_version")),
            "memory_total_mib": integer(_field(row, "memory.total")),
            "memory_used_mib": integer(_field(row, "memory.used")),
            "utilization_pct": number(_field(row, "utilization.gpu")),
            "temperature_c": number(_field(row, "temperature.gpu")),
            "power_w": number(_field(row, "power.draw", "power.draw.instant", "power.draw.average")),
            "power_limit_w": number(_field(row, "power.limit", "enforced.power.limit")),
            "sm_clock_mhz": integer(_field(row, "clocks.sm", "clocks.current.sm")),
            "mig_mode": mig_mode(_field(row, "mig.mode.current")),
            "ecc_corrected": integer(_field(row, "ecc.errors.corrected.volatile.total")),
            "ecc_uncorrected": integer(_field(row, "ecc.errors.uncorrected.volatile.total")),
            "throttle_reasons": throttle_reasons(_field(row, "clocks_throttle_reasons.active",
                                                        "clocks_event_reasons.active")),
        })
    return gpus


def parse_remapped_rows(csv_text: str, fields=REMAPPED_ROWS_FIELDS) -> dict[str, dict]:
    """`--query-remapped-rows` -> {gpu uuid: {correctable, uncorrectable, pending, failure}}."""
    result = {}
    for row in parse_csv_rows(csv_text, fields):
        uuid = clean(_field(row, "gpu_uuid"))
        if uuid is None:
            continue
        result[uuid] = {
            "correctable": integer(_field(row, "remapped_rows.correctable")),
            "uncorrectable": integer(_field(row, "remapped_rows.uncorrectable")),
            "pending": yes_no(_field(row, "remapped_rows.pending")),
            "failure": yes_no(_field(row, "remapped_rows.failure")),
        }
    return result


# --- nvidia-smi --version -------------------------------------------------------------------
def parse_version(text: str) -> dict:
    """`nvidia-smi --version` -> {driver_version, cuda_version} (None where a line is missing)."""
    found = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            found[name.strip().lower()] = clean(value)
    return {"driver_version": found.get("driver version"), "cuda_version": found.get("cuda version")}


# --- nvidia-smi -L -------------------------------------------------------------------------
_LIST_GPU = re.compile(r"^GPU (\d+): (.+?) \(UUID: ([^)]+)\)\s*$")
_LIST_MIG = re.compile(r"^\s+MIG (\S+)\s+Device\s+(\d+): \(UUID: ([^)]+)\)\s*$")


def parse_list_gpus(text: str) -> list[dict]:
    """`nvidia-smi -L` -> [{index, name, uuid, mig_devices: [{device, profile, uuid}]}]."""
    gpus: list[dict] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _LIST_GPU.match(line)
        if match:
            gpus.append({"index": int(match[1]), "name": match[2].strip(), "uuid": match[3].strip(), "mig_devices": []})
            continue
        match = _LIST_MIG.match(line)
        if match and gpus:
            gpus[-1]["mig_devices"].append({"device": int(match[2]), "profile": match[1], "uuid": match[3].strip()})
            continue
        raise NvsmiParseError(f"not a line of `nvidia-smi -L`: {line[:200]!r}")
    return gpus


# --- nvidia-smi -q -x ----------------------------------------------------------------------
def _text(element, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path)
    return None if found is None or found.text is None else found.text


def _ecc_totals(gpu) -> tuple[int | None, int | None]:
    volatile = gpu.find("ecc_errors/volatile")
    if volatile is None:
        return None, None
    corrected = uncorrected = None
    for child in volatile:
        value = integer(child.text)
        tag = child.tag
        if value is None or tag.endswith("_total") or "threshold" in tag:
            continue
        if "uncorrectable" in tag or tag in ("double_bit",):
            uncorrected = (uncorrected or 0) + value
        elif "correctable" in tag:
            corrected = (corrected or 0) + value
    return corrected, uncorrected


def _throttle_from_xml(gpu) -> list[str] | None:
    block = gpu.find("clocks_event_reasons")
    prefix = "clocks_event_reason_"
    if block is None:
        block, prefix = gpu.find("clocks_throttle_reasons"), "clocks_throttle_reason_"
    if block is None:
        return None
    aliases = {"display_clocks_setting": "display_clock_setting"}
    active, known = [], False
    for child in block:
        state = yes_no(child.text)
        if state is None:
            continue
        known = True
        name = child.tag[len(prefix):] if child.tag.startswith(prefix) else child.tag
        name = aliases.get(name, name)
        if state and name in THROTTLE_REASON_NAMES:
            active.append(name)
    return sorted(active, key=THROTTLE_REASON_NAMES.index) if known else None


def _remap_failure(gpu) -> bool | None:
    block = gpu.find("remapped_rows")
    if block is None or len(block) == 0:
        return None
    return yes_no(_text(block, "remapped_row_failure"))


def _power(gpu) -> tuple[float | None, float | None]:
    for block_name in ("gpu_power_readings", "power_readings"):
        block = gpu.find(block_name)
        if block is None:
            continue
        draw = (number(_text(block, "power_draw")) if block.find("power_draw") is not None
                else number(_text(block, "instant_power_draw")) or number(_text(block, "average_power_draw")))
        limit = number(_text(block, "current_power_limit")) if block.find("current_power_limit") is not None \
            else number(_text(block, "power_limit"))
        return draw, limit
    return None, None


def parse_query_xml(xml_text: str) -> dict:
    """`nvidia-smi -q -x` -> {driver_version, cuda_version, gpus: [...]}.

    Each GPU has the keys of parse_query_gpu (index = position, as nvidia-smi enumerates) plus
    row_remap_failure and mig_devices: [{gpu_instance, compute_instance, memory_total_mib, device}].
    """
    try:
        root = ET.fromstring(xml_text.encode("utf-8") if isinstance(xml_text, str) else xml_text)
    except ET.ParseError as exc:
        raise NvsmiParseError(f"not XML from `nvidia-smi -q -x`: {exc}") from None
    if root.tag != "nvidia_smi_log":
        raise NvsmiParseError(f"not an nvidia_smi_log document (root <{root.tag}>)")
    driver = clean(_text(root, "driver_version"))
    result = {"driver_version": driver, "cuda_version": clean(_text(root, "cuda_version")), "gpus": []}
    for position, gpu in enumerate(root.findall("gpu")):
        corrected, uncorrected = _ecc_totals(gpu)
        draw, limit = _power(gpu)
        migs = []
        for device_position, mig in enumerate(gpu.findall("mig_devices/mig_device")):
            migs.append({"device": integer(_text(mig, "index")) if mig.find("index") is not None else device_position,
                         "gpu_instance": integer(_text(mig, "gpu_instance_id")),
                         "compute_instance": integer(_text(mig, "compute_instance_id")),
                         "memory_total_mib": integer(_text(mig, "fb_memory_usage/total"))})
        result["gpus"].append({
            "index": position,
            "uuid": clean(_text(gpu, "uuid")),
            "name": clean(_text(gpu, "product_name")),
            "pci_bus_id": clean(_text(gpu, "pci/pci_bus_id")) or clean(gpu.get("id")),
            "driver_version": driver,
            "memory_total_mib": integer(_text(gpu, "fb_memory_usage/total")),
            "memory_used_mib": integer(_text(gpu, "fb_memory_usage/used")),
            "utilization_pct": number(_text(gpu, "utilization/gpu_util")),
            "temperature_c": number(_text(gpu, "temperature/gpu_temp")),
            "power_w": draw,
            "power_limit_w": limit,
            "sm_clock_mhz": integer(_text(gpu, "clocks/sm_clock")),
            "mig_mode": mig_mode(_text(gpu, "mig_mode/current_mig")),
            "ecc_corrected": corrected,
            "ecc_uncorrected": uncorrected,
            "row_remap_failure": _remap_failure(gpu),
            "throttle_reasons": _throttle_from_xml(gpu),
            "mig_devices": migs,
        })
    return result


# --- kernel log: Xid lines -----------------------------------------------------------------
# NVRM: Xid (PCI:0000:17:00): 79, pid=1234, name=python, GPU has fallen off the bus.
_XID = re.compile(r"NVRM: Xid \(PCI:([0-9a-fA-F:.]+)\): (\d+), (.*)$")


def parse_xid_log(text: str) -> list[dict]:
    """Kernel log text -> [{pci_bus_id, xid, message, line}] for every NVRM Xid line, in order."""
    events = []
    for line in text.splitlines():
        match = _XID.search(line)
        if not match:
            continue
        rest = [part.strip() for part in match[3].split(",")]
        message = ", ".join(p for p in rest if not re.match(r"^(pid|name)=", p)) or rest[-1]
        events.append({"pci_bus_id": match[1], "xid": int(match[2]), "message": message[:200], "line": line.strip()})
    return events


def normalize_bus_id(bus_id: str | None) -> str | None:
    """'0000:17:00' / '00000000:17:00.0' -> '00000000:17:00' (compare kernel and smi ids)."""
    if not bus_id:
        return None
    text = bus_id.strip().lower()
    if text.count(":") == 2:
        domain, rest = text.split(":", 1)
        text = f"{int(domain, 16):08x}:{rest}"
    return text.rsplit(".", 1)[0]


# --- into the record -----------------------------------------------------------------------
def merge_mig(list_gpus: list[dict], xml: dict | None) -> dict[str, list[dict]]:
    """MIG devices per GPU uuid: UUID and profile from `-L`, instance ids and memory from `-q -x`."""
    by_uuid = {}
    xml_gpus = {g["uuid"]: g for g in (xml or {}).get("gpus", []) if g.get("uuid")}
    for gpu in list_gpus:
        xml_migs = {m["device"]: m for m in xml_gpus.get(gpu["uuid"], {}).get("mig_devices", [])}
        devices = []
        for mig in gpu["mig_devices"]:
            detail = xml_migs.get(mig["device"], {})
            devices.append({"gpu_instance": detail.get("gpu_instance"),
                            "compute_instance": detail.get("compute_instance"),
                            "uuid": mig["uuid"], "profile": mig["profile"],
                            "memory_total_mib": detail.get("memory_total_mib")})
        by_uuid[gpu["uuid"]] = devices
    return by_uuid


def to_record_parts(gpus: list[dict], ts: str, *, cuda_version: str | None = None,
                    mig_devices: dict[str, list[dict]] | None = None,
                    remapped: dict[str, dict] | None = None) -> tuple[list[dict], list[dict]]:
    """(inventory, gpu_samples) of the telemetry record from parse_query_gpu / parse_query_xml GPUs."""
    inventory, samples = [], []
    mig_devices = mig_devices or {}
    remapped = remapped or {}
    for gpu in gpus:
        uuid = gpu.get("uuid")
        if not uuid:
            continue  # a GPU without UUID cannot be tracked (nvidia-smi prints this for a lost GPU)
        remap = remapped.get(uuid, {})
        inventory.append({
            "index": gpu.get("index"), "uuid": uuid, "name": gpu.get("name"),
            "memory_total_mib": gpu.get("memory_total_mib"), "driver_version": gpu.get("driver_version"),
            "cuda_version": cuda_version, "pci_bus_id": gpu.get("pci_bus_id"), "mig_mode": gpu.get("mig_mode"),
            "mig_devices": mig_devices.get(uuid, [m for m in gpu.get("mig_devices", []) if m.get("uuid")]),
            "power_limit_w": gpu.get("power_limit_w"),
        })
        failure = remap.get("failure") if remap else gpu.get("row_remap_failure")
        samples.append({
            "uuid": uuid, "ts": ts, "utilization_pct": gpu.get("utilization_pct"),
            "memory_used_mib": gpu.get("memory_used_mib"), "temperature_c": gpu.get("temperature_c"),
            "power_w": gpu.get("power_w"), "sm_clock_mhz": gpu.get("sm_clock_mhz"),
            "ecc_corrected": gpu.get("ecc_corrected"), "ecc_uncorrected": gpu.get("ecc_uncorrected"),
            "row_remap_failure": failure, "throttle_reasons": gpu.get("throttle_reasons"),
        })
    return inventory, samples


def xid_events(lines: list[dict], gpus: list[dict], default_ts: str) -> list[dict]:
    """parse_xid_log entries -> record events, matched to GPUs by PCI bus id (unmatched: dropped)."""
    by_bus = {normalize_bus_id(g.get("pci_bus_id")): g.get("uuid") for g in gpus}
    events = []
    for entry in lines:
        uuid = by_bus.get(normalize_bus_id(entry["pci_bus_id"]))
        if uuid:
            events.append({"uuid": uuid, "ts": entry.get("ts") or default_ts, "kind": "xid", "xid": entry["xid"],
                           "message": entry["message"]})
    return events
