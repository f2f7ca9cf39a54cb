"""Validation of a telemetry record (docs/telemetry-record.md), for both ways of collecting.

Plain Python rather than a DRF serializer: a batch holds up to 10,000 samples and this runs for
each one (a serializer costs tens of microseconds per field). Every refusal names the item's
index and field, e.g. `gpu_samples[3].temperature_c`, and the whole batch is refused.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from apps.core.errors import InvalidInput

MAX_GPUS = 64
MAX_GPU_SAMPLES = 10_000
MAX_NODE_SAMPLES = 1_000
MAX_EVENTS = 1_000
MAX_STRING = 200
MAX_MIG_DEVICES = 64
SOURCES = ("agent", "agentless")
THROTTLE_REASONS = frozenset({
    "gpu_idle", "applications_clocks_setting", "sw_power_cap", "hw_slowdown", "sync_boost",
    "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown", "display_clock_setting"})
EVENT_KINDS = ("xid",)
MIG_MODES = ("Enabled", "Disabled")
GPU_FLOATS = ("utilization_pct", "memory_used_mib", "temperature_c", "power_w", "sm_clock_mhz")
NODE_FLOATS = ("cpu_pct", "load1", "memory_used_bytes", "memory_total_bytes", "net_rx_bps", "net_tx_bps",
               "disk_read_bps", "disk_write_bps")
# Bounds of a plausible value (a reading outside them is a broken sensor or a broken sender).
LIMITS = {"utilization_pct": (0, 100), "temperature_c": (-50, 200), "cpu_pct": (0, 100)}


@dataclass
class Record:
    collected_at: dt.datetime
    source: str
    hostname: str
    inventory: list[dict] | None  # None: the record carries no inventory (nothing vanishes)
    gpu_samples: list[dict] = field(default_factory=list)
    node_samples: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    def days(self) -> set[dt.date]:
        stamps = [s["ts"] for s in self.gpu_samples] + [s["ts"] for s in self.node_samples]
        return {ts.astimezone(dt.timezone.utc).date() for ts in stamps}


class _Refused(Exception):
    def __init__(self, path: str, message: str):
        self.path, self.message = path, message


def _str(value, path, *, required=False, blank=True):
    if value is None:
        if required:
            raise _Refused(path, "This field is required.")
        return ""
    if not isinstance(value, str):
        raise _Refused(path, "Must be a string.")
    if len(value) > MAX_STRING:
        raise _Refused(path, f"At most {MAX_STRING} characters.")
    if "\x00" in value or (not blank and not value.strip()):
        raise _Refused(path, "Must be a non-empty string without NUL.")
    return value


def _num(value, path, *, integer=False, minimum=None, maximum=None):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Refused(path, "Must be a number or null.")
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        raise _Refused(path, "Must be a whole number.")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        finite = False
    if not finite:
        raise _Refused(path, "Must be a finite number.")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _Refused(path, f"Must lie between {minimum} and {maximum}.")
    return int(value) if integer else float(value)


def _bool(value, path):
    if value is None or isinstance(value, bool):
        return value
    raise _Refused(path, "Must be true, false or null.")


def _time(value, path, earliest, latest):
    if not isinstance(value, str) or len(value) > 40:
        raise _Refused(path, "Must be an ISO 8601 time with a zone, e.g. 2026-11-30T08:00:00Z.")
    try:
        ts = dt.datetime.fromisoformat(value)
        if ts.tzinfo is None:
            raise _Refused(path, "Must carry a zone (Z or +00:00).")
        ts = ts.astimezone(dt.timezone.utc)  # PostgreSQL refuses offsets beyond 15:59
    except (ValueError, OverflowError):
        raise _Refused(path, "Must be an ISO 8601 time with a zone, e.g. 2026-11-30T08:00:00Z.") from None
    if not earliest <= ts <= latest:
        raise _Refused(path, f"Must lie between {earliest:%Y-%m-%dT%H:%M}Z (retention) and "
                             f"{latest:%Y-%m-%dT%H:%M}Z (an hour ahead).")
    return ts


def _list(value, path, maximum, *, required=False):
    if value is None:
        if required:
            raise _Refused(path, "This field is required.")
        return []
    if not isinstance(value, list):
        raise _Refused(path, "Must be a list.")
    if len(value) > maximum:
        raise _Refused(path, f"At most {maximum} items per batch.")
    return value


def _obj(value, path):
    if not isinstance(value, dict):
        raise _Refused(path, "Must be an object.")
    return value


def _mig(devices, path):
    out = []
    for i, dev in enumerate(_list(devices, path, MAX_MIG_DEVICES)):
        p = f"{path}[{i}]"
        _obj(dev, p)
        out.append({"gpu_instance": _num(dev.get("gpu_instance"), f"{p}.gpu_instance", integer=True, minimum=0),
                    "compute_instance": _num(dev.get("compute_instance"), f"{p}.compute_instance", integer=True,
                                             minimum=0),
                    "uuid": _str(dev.get("uuid"), f"{p}.uuid"), "profile": _str(dev.get("profile"), f"{p}.profile"),
                    "memory_total_mib": _num(dev.get("memory_total_mib"), f"{p}.memory_total_mib", integer=True,
                                             minimum=0)})
    return out


def _inventory(items, seen_indexes):
    out, uuids = [], set()
    for i, item in enumerate(items):
        p = f"inventory[{i}]"
        _obj(item, p)
        uuid = _str(item.get("uuid"), f"{p}.uuid", required=True, blank=False)
        index = _num(item.get("index"), f"{p}.index", integer=True, minimum=0, maximum=1023)
        if index is None:
            raise _Refused(f"{p}.index", "This field is required.")
        if uuid in uuids:
            raise _Refused(f"{p}.uuid", "Listed twice in this inventory.")
        if index in seen_indexes:
            raise _Refused(f"{p}.index", "Two GPUs of this inventory share this index.")
        uuids.add(uuid)
        seen_indexes.add(index)
        mig_mode = item.get("mig_mode")
        if mig_mode is not None and mig_mode not in MIG_MODES:
            raise _Refused(f"{p}.mig_mode", "Must be Enabled, Disabled or null.")
        out.append({
            "index": index, "uuid": uuid, "model": _str(item.get("name"), f"{p}.name"),
            "memory_total_mib": _num(item.get("memory_total_mib"), f"{p}.memory_total_mib", integer=True, minimum=0),
            "driver_version": _str(item.get("driver_version"), f"{p}.driver_version"),
            "cuda_version": _str(item.get("cuda_version"), f"{p}.cuda_version"),
            "pci_bus_id": _str(item.get("pci_bus_id"), f"{p}.pci_bus_id"), "mig_mode": mig_mode or "",
            "mig_devices": _mig(item.get("mig_devices"), f"{p}.mig_devices"),
            "power_limit_w": _num(item.get("power_limit_w"), f"{p}.power_limit_w", minimum=0)})
    return out


def _gpu_sample(item, p, earliest, latest):
    _obj(item, p)
    reasons = _list(item.get("throttle_reasons"), f"{p}.throttle_reasons", len(THROTTLE_REASONS))
    for j, reason in enumerate(reasons):
        if not isinstance(reason, str) or reason not in THROTTLE_REASONS:
            raise _Refused(f"{p}.throttle_reasons[{j}]",
                           f"Unknown reason; one of {', '.join(sorted(THROTTLE_REASONS))}.")
    sample = {"uuid": _str(item.get("uuid"), f"{p}.uuid", required=True, blank=False),
              "ts": _time(item.get("ts"), f"{p}.ts", earliest, latest),
              "ecc_corrected": _num(item.get("ecc_corrected"), f"{p}.ecc_corrected", integer=True, minimum=0,
                                    maximum=2**62),
              "ecc_uncorrected": _num(item.get("ecc_uncorrected"), f"{p}.ecc_uncorrected", integer=True, minimum=0,
                                      maximum=2**62),
              "row_remap_failure": _bool(item.get("row_remap_failure"), f"{p}.row_remap_failure"),
              "throttle_reasons": sorted(set(reasons))}
    for name in GPU_FLOATS:
        low, high = LIMITS.get(name, (0, 1e15))
        sample[name] = _num(item.get(name), f"{p}.{name}", minimum=low, maximum=high)
    return sample


# --- the fast path: one pass of exact type and bound checks per sample ---------------------------
# A batch holds up to 10,000 samples; the general checks above cost a call per field. Each sample
# is checked here first, inline; anything this path does not accept outright (a wrong type, a
# value out of bounds, a NaN, a bad time) goes through the general checks, which refuse it with
# the field's message (or accept it: an integer sent as 3.0, a time with another offset).
_GPU_FLOAT_BOUNDS = tuple((name, *LIMITS.get(name, (0, 1e15))) for name in GPU_FLOATS)
_NODE_FLOAT_BOUNDS = tuple((name, *LIMITS.get(name, (0, 1e18))) for name in NODE_FLOATS)
_ECC_MAX = 2**62
_REASON_STRINGS = frozenset({str})


class _Times:
    """ISO times of one batch parsed once each (the GPUs of a node share every tick's time)."""

    def __init__(self, earliest, latest):
        self.earliest, self.latest, self.seen = earliest, latest, {}

    def get(self, value):
        if type(value) is not str:
            return None
        ts = self.seen.get(value)
        if ts is None and len(value) <= 40 and (value.endswith("Z") or value.endswith("+00:00")):
            try:
                ts = dt.datetime.fromisoformat(value)
            except ValueError:
                return None
            if ts.tzinfo is None or ts.utcoffset() or not self.earliest <= ts <= self.latest:
                return None
            self.seen[value] = ts = ts.replace(tzinfo=dt.timezone.utc)
        return ts


def _fast_gpu_sample(item, times: _Times) -> dict | None:
    if type(item) is not dict:
        return None
    get = item.get
    uuid = get("uuid")
    if type(uuid) is not str or not 0 < len(uuid) <= MAX_STRING or "\x00" in uuid or uuid.isspace():
        return None
    stamp = get("ts")
    ts = times.seen.get(stamp) if type(stamp) is str else None
    if ts is None and (ts := times.get(stamp)) is None:
        return None
    sample = {"uuid": uuid, "ts": ts}
    for name in ("ecc_corrected", "ecc_uncorrected"):
        value = get(name)
        if value is not None and not (type(value) is int and 0 <= value <= _ECC_MAX):
            return None
        sample[name] = value
    remap = get("row_remap_failure")
    if remap is not None and type(remap) is not bool:
        return None
    sample["row_remap_failure"] = remap
    reasons = get("throttle_reasons")
    if not reasons and (reasons is None or type(reasons) is list):
        sample["throttle_reasons"] = []
    elif type(reasons) is list and len(reasons) <= len(THROTTLE_REASONS) and _REASON_STRINGS.issuperset(
            map(type, reasons)) and THROTTLE_REASONS.issuperset(reasons):
        sample["throttle_reasons"] = sorted(set(reasons))
    else:
        return None
    for name, low, high in _GPU_FLOAT_BOUNDS:
        value = get(name)
        if value is not None:
            kind = type(value)
            if not ((kind is float or kind is int) and low <= value <= high):  # NaN fails both comparisons
                return None
            value = float(value)
        sample[name] = value
    return sample


def _fast_node_sample(item, times: _Times) -> dict | None:
    if type(item) is not dict:
        return None
    ts = times.get(item.get("ts"))
    if ts is None:
        return None
    sample = {"ts": ts}
    for name, low, high in _NODE_FLOAT_BOUNDS:
        value = item.get(name)
        if value is not None:
            kind = type(value)
            if not ((kind is float or kind is int) and low <= value <= high):
                return None
            value = float(value)
        sample[name] = value
    return sample


def _samples(items, kind, fast, slow, times: _Times) -> list[dict]:
    out = []
    for i, item in enumerate(items):
        sample = fast(item, times)
        out.append(sample if sample is not None else slow(item, f"{kind}[{i}]", times.earliest, times.latest))
    return out


def _node_sample(item, p, earliest, latest):
    _obj(item, p)
    sample = {"ts": _time(item.get("ts"), f"{p}.ts", earliest, latest)}
    for name in NODE_FLOATS:
        low, high = LIMITS.get(name, (0, 1e18))
        sample[name] = _num(item.get(name), f"{p}.{name}", minimum=low, maximum=high)
    return sample


def _event(item, p, earliest, latest):
    _obj(item, p)
    kind = item.get("kind")
    if kind not in EVENT_KINDS:
        raise _Refused(f"{p}.kind", f"Must be one of: {', '.join(EVENT_KINDS)}.")
    xid = _num(item.get("xid"), f"{p}.xid", integer=True, minimum=0, maximum=2**31 - 1)
    if xid is None:
        raise _Refused(f"{p}.xid", "This field is required.")
    return {"uuid": _str(item.get("uuid"), f"{p}.uuid", required=True, blank=False), "kind": kind, "xid": xid,
            "ts": _time(item.get("ts"), f"{p}.ts", earliest, latest),
            "message": _str(item.get("message"), f"{p}.message")}


def validate(record, *, source: str, retention_days: int, now: dt.datetime | None = None) -> Record:
    """The clean record, or InvalidInput naming the first fault as `list[index].field`."""
    now = now or dt.datetime.now(dt.timezone.utc)
    earliest, latest = now - dt.timedelta(days=retention_days), now + dt.timedelta(hours=1)
    try:
        _obj(record, "record")
        if record.get("version", 1) != 1:
            raise _Refused("version", "Only version 1 is understood.")
        claimed = record.get("source")
        if claimed is not None and claimed not in SOURCES:
            raise _Refused("source", "Must be agent or agentless.")
        inventory = record.get("inventory")
        clean = Record(
            collected_at=_time(record.get("collected_at"), "collected_at", earliest, latest)
            if record.get("collected_at") is not None else now,
            source=source, hostname=_str(record.get("hostname"), "hostname"),
            inventory=None if inventory is None else _inventory(_list(inventory, "inventory", MAX_GPUS), set()))
        times = _Times(earliest, latest)
        clean.gpu_samples = _samples(_list(record.get("gpu_samples"), "gpu_samples", MAX_GPU_SAMPLES),
                                     "gpu_samples", _fast_gpu_sample, _gpu_sample, times)
        clean.node_samples = _samples(_list(record.get("node_samples"), "node_samples", MAX_NODE_SAMPLES),
                                      "node_samples", _fast_node_sample, _node_sample, times)
        clean.events = [_event(item, f"events[{i}]", earliest, latest) for i, item in
                        enumerate(_list(record.get("events"), "events", MAX_EVENTS))]
    except _Refused as exc:
        raise InvalidInput({exc.path: [exc.message]}) from None
    return clean
