"""GPU health rules, the node summary, and health changes (event, signal).

Rules only escalate (ok -> degraded -> failed), with one exception: a GPU degraded by thermal
slowdown returns to ok once the slowdown stops, and one failed for having vanished returns to
ok when it reappears. Maintenance is an operator's decision: rules leave it alone. A failed GPU
stays failed until an operator sets it otherwise (PATCH health).
"""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q

from .models import Gpu, GpuEvent, GpuEventKind, GpuHealth
from .signals import gpu_health_changed

# XIDs that mean the GPU needs attention before it runs work again (NVIDIA's XID catalogue):
# 48 double-bit ECC, 63/64 row remapping (pending / failure), 74 NVLink, 79 fallen off the bus.
FAILING_XIDS = {48: "double-bit ECC error", 63: "ECC page retirement / row remapping event",
                64: "row remapping failure", 74: "NVLink error", 79: "GPU has fallen off the bus"}
THERMAL_REASONS = frozenset({"sw_thermal_slowdown", "hw_thermal_slowdown"})
SEVERITY = {GpuHealth.OK: 0, GpuHealth.DEGRADED: 1, GpuHealth.FAILED: 2}
MISSING_REASON = "missing from inventory"
THERMAL_PREFIX = "thermal slowdown"


def set_health(gpu: Gpu, health: str, reason: str, *, at: dt.datetime, save: bool = True) -> bool:
    """Record a health change on the GPU (an event row, the signal after commit). True if changed."""
    before = gpu.health
    if before == health and gpu.health_reason == reason:
        return False
    gpu.health, gpu.health_reason, gpu.health_changed_at = health, reason[:300], at
    if save:
        Gpu.objects.filter(pk=gpu.pk).update(health=health, health_reason=gpu.health_reason, health_changed_at=at)
    GpuEvent.objects.create(gpu=gpu, ts=at, kind=GpuEventKind.HEALTH, message=f"{before} -> {health}: {reason}"[:500],
                            data={"before": before, "after": health, "reason": reason[:300]})
    if before != health:
        transaction.on_commit(lambda: gpu_health_changed.send(sender=Gpu, gpu=gpu, before=before, after=health,
                                                              reason=reason))
    return True


def _escalate(gpu: Gpu, health: str, reason: str, at) -> bool:
    if gpu.health == GpuHealth.MAINTENANCE or SEVERITY[health] <= SEVERITY.get(gpu.health, 0):
        return False
    return set_health(gpu, health, reason, at=at, save=False)


def verdict_of_sample(sample: dict) -> tuple[str, str] | None:
    """The health one sample alone calls for (thermal needs time: see `apply_samples`)."""
    if sample.get("ecc_uncorrected"):
        return GpuHealth.FAILED, f"uncorrected ECC errors: {sample['ecc_uncorrected']}"
    if sample.get("row_remap_failure"):
        return GpuHealth.FAILED, "row remapping failure"
    return None


def apply_samples(gpu: Gpu, samples: list[dict]) -> bool:
    """Run the sample rules over one GPU's samples of a batch, oldest first. True if health changed."""
    changed = False
    limit = dt.timedelta(minutes=settings.GPU_THERMAL_DEGRADED_MINUTES)
    for sample in samples:
        verdict = verdict_of_sample(sample)
        if verdict:
            changed |= _escalate(gpu, *verdict, sample["ts"])
        if THERMAL_REASONS & set(sample["throttle_reasons"]):
            gpu.thermal_throttle_since = gpu.thermal_throttle_since or sample["ts"]
            lasted = sample["ts"] - gpu.thermal_throttle_since
            if lasted > limit:
                minutes = lasted.total_seconds() / 60
                changed |= _escalate(gpu, GpuHealth.DEGRADED, f"{THERMAL_PREFIX} for {minutes:.0f} min", sample["ts"])
        else:
            gpu.thermal_throttle_since = None
            if gpu.health == GpuHealth.DEGRADED and gpu.health_reason.startswith(THERMAL_PREFIX):
                changed |= set_health(gpu, GpuHealth.OK, "thermal slowdown ended", at=sample["ts"], save=False)
    return changed


def apply_xid(gpu: Gpu, xid: int, message: str, at) -> bool:
    if xid not in FAILING_XIDS:
        return False
    return _escalate(gpu, GpuHealth.FAILED, f"XID {xid} ({FAILING_XIDS[xid]}){': ' + message if message else ''}", at)


def mark_missing(gpu: Gpu, at) -> bool:
    return _escalate(gpu, GpuHealth.FAILED, MISSING_REASON, at)


def mark_returned(gpu: Gpu, at) -> bool:
    if gpu.health == GpuHealth.FAILED and gpu.health_reason == MISSING_REASON:
        return set_health(gpu, GpuHealth.OK, "back in inventory", at=at, save=False)
    return False


# --- node summaries -------------------------------------------------------------------------
def _summary(counts: dict) -> dict:
    worst = "none"
    if counts.get("missing"):  # a GPU that vanished from a node is a failed GPU of that node
        return {"health": GpuHealth.FAILED.value, **counts}
    for health in (GpuHealth.FAILED, GpuHealth.DEGRADED, GpuHealth.MAINTENANCE, GpuHealth.OK):
        if counts.get(health):
            worst = health.value
            break
    return {"health": worst, **counts}


def node_summaries(node_ids) -> dict[int, dict]:
    """{node id: {"health": worst, "gpus": present GPUs, "ok": n, ..., "missing": vanished GPUs}} in one
    query. Counts by health are of present GPUs; a vanished GPU makes the node's health failed.
    A node without GPUs has health "none"."""
    aggregates = {h.value: Count("id", filter=Q(present=True, health=h)) for h in GpuHealth}
    rows = Gpu.objects.filter(node_id__in=list(node_ids)).values("node_id").annotate(
        gpus=Count("id", filter=Q(present=True)), missing=Count("id", filter=Q(present=False)), **aggregates)
    out = {}
    for row in rows:
        node_id = row.pop("node_id")
        out[node_id] = _summary(row)
    return out


def node_summary(node) -> dict:
    empty = {"gpus": 0, "missing": 0, **{h.value: 0 for h in GpuHealth}}
    return node_summaries([node.pk]).get(node.pk, _summary(empty))
