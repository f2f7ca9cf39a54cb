"""The one way telemetry gets in: `ingest(node, record, source=...)`, used by the API (agent
pushes, user pushes) and by agentless collection alike.

A batch is validated whole first (apps/gpus/record.py), then stored in one transaction:
inventory upsert, samples (bulk inserts), XID events, health rules. Nothing of a refused batch
is written. One audit entry per batch that changed the inventory; none for samples.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.audit import record_audit
from apps.core.errors import InvalidInput
from apps.nodes.models import Node

from . import health, partitions
from .models import Gpu, GpuEvent, GpuEventKind, GpuSample, NodeSample
from .record import Record, validate

INVENTORY_FIELDS = ("index", "model", "memory_total_mib", "driver_version", "cuda_version", "pci_bus_id",
                    "mig_mode", "mig_devices", "power_limit_w")
BATCH = 2_000  # rows per INSERT statement
LAST_SAMPLE_FIELDS = ("utilization_pct", "memory_used_mib", "temperature_c", "power_w", "sm_clock_mhz",
                      "ecc_corrected", "ecc_uncorrected", "row_remap_failure", "throttle_reasons")


@dataclass
class IngestResult:
    gpus: int = 0
    gpu_samples: int = 0
    node_samples: int = 0
    events: int = 0
    inventory: dict = field(default_factory=lambda: {"added": [], "missing": [], "returned": [], "changed": [],
                                                     "uuid_changed": [], "moved": []})
    health_changes: int = 0

    def as_dict(self) -> dict:
        return {"gpus": self.gpus, "gpu_samples": self.gpu_samples, "node_samples": self.node_samples,
                "events": self.events, "health_changes": self.health_changes,
                "inventory": {k: v for k, v in self.inventory.items() if v}}

    @property
    def inventory_changed(self) -> bool:
        return any(self.inventory.values())


def ingest(node: Node, record: dict, *, source: str, actor=None, now: dt.datetime | None = None) -> IngestResult:
    """Store one telemetry record of `node`. Raises InvalidInput (nothing written) if any part is bad."""
    now = now or timezone.now()
    clean = validate(record, source=source, retention_days=settings.GPU_SAMPLE_RETENTION_DAYS, now=now)
    partitions.ensure_days(clean.days())
    with transaction.atomic():
        return _store(node, clean, actor, now)


def _store(node: Node, clean: Record, actor, now) -> IngestResult:
    result = IngestResult()
    # One ingest per node at a time: inventory decisions read then write the node's GPU rows.
    list(Node.objects.select_for_update().filter(pk=node.pk).values_list("pk", flat=True))
    inventory_uuids = [item["uuid"] for item in clean.inventory or ()]
    gpus = {g.uuid: g for g in Gpu.objects.filter(node=node).select_related("node")}
    if inventory_uuids:
        gpus.update({g.uuid: g for g in Gpu.objects.filter(uuid__in=inventory_uuids).select_related("node")})
    dirty: dict[int, Gpu] = {}
    if clean.inventory is not None:
        _upsert_inventory(node, clean, gpus, dirty, result, now)
    by_uuid = {uuid: g for uuid, g in gpus.items() if g.node_id == node.pk}
    _check_known(clean, by_uuid)
    per_gpu: dict[str, list[dict]] = {}
    for sample in clean.gpu_samples:
        per_gpu.setdefault(sample["uuid"], []).append(sample)
    GpuSample.objects.bulk_create(
        [GpuSample(gpu_id=by_uuid[s["uuid"]].pk, **{k: v for k, v in s.items() if k != "uuid"})
         for s in clean.gpu_samples], batch_size=BATCH)
    NodeSample.objects.bulk_create([NodeSample(node_id=node.pk, **s) for s in clean.node_samples], batch_size=BATCH)
    result.gpu_samples, result.node_samples = len(clean.gpu_samples), len(clean.node_samples)
    for uuid, samples in per_gpu.items():
        gpu = by_uuid[uuid]
        samples.sort(key=lambda s: s["ts"])
        before_since = gpu.thermal_throttle_since
        if health.apply_samples(gpu, samples):
            result.health_changes += 1
            dirty[gpu.pk] = gpu
        newest = samples[-1]
        if gpu.last_sample_at is None or newest["ts"] >= gpu.last_sample_at:
            gpu.last_sample = {k: newest[k] for k in LAST_SAMPLE_FIELDS} | {"source": clean.source}
            gpu.last_sample_at = newest["ts"]
            dirty[gpu.pk] = gpu
        if gpu.thermal_throttle_since != before_since:
            dirty[gpu.pk] = gpu
    _store_events(clean, by_uuid, dirty, result)
    if dirty:
        Gpu.objects.bulk_update(list(dirty.values()), ["node", "present", "last_seen", "last_sample", "last_sample_at",
                                                       "thermal_throttle_since", "health", "health_reason",
                                                       "health_changed_at", *INVENTORY_FIELDS], batch_size=500)
    result.gpus = len(by_uuid)
    if result.inventory_changed:
        record_audit("gpu.inventory", actor=actor, obj=node, after={"source": clean.source, **result.as_dict()["inventory"]})
    return result


def _check_known(clean: Record, by_uuid: dict) -> None:
    for kind in ("gpu_samples", "events"):
        for i, item in enumerate(getattr(clean, kind)):
            if item["uuid"] not in by_uuid:
                raise InvalidInput({f"{kind}[{i}].uuid": ["Not a GPU of this node (send it in the inventory first)."]})


def _store_events(clean: Record, by_uuid: dict, dirty: dict, result: IngestResult) -> None:
    rows = []
    for event in sorted(clean.events, key=lambda e: e["ts"]):
        gpu = by_uuid[event["uuid"]]
        rows.append(GpuEvent(gpu=gpu, ts=event["ts"], kind=GpuEventKind.XID, xid=event["xid"],
                             message=event["message"][:500], data={"source": clean.source}))
        if health.apply_xid(gpu, event["xid"], event["message"], event["ts"]):
            result.health_changes += 1
            dirty[gpu.pk] = gpu
    GpuEvent.objects.bulk_create(rows, batch_size=BATCH)
    result.events = len(rows)


def _upsert_inventory(node: Node, clean: Record, gpus: dict, dirty: dict, result: IngestResult, now) -> None:
    """New GPUs are created; known ones updated; this node's GPUs absent from the (full) inventory are
    marked missing (never deleted); another UUID at a known index is recorded as a UUID change."""
    at = clean.collected_at
    listed = {item["uuid"] for item in clean.inventory}
    # Vanished first, so their indexes are free for the GPUs that now hold them.
    vanished_by_index = {}
    for gpu in [g for g in gpus.values() if g.node_id == node.pk and g.present and g.uuid not in listed]:
        gpu.present = False
        vanished_by_index[gpu.index] = gpu
        GpuEvent.objects.create(gpu=gpu, ts=at, kind=GpuEventKind.MISSING, message=f"gpu{gpu.index} {gpu.uuid} "
                                f"is missing from the inventory of {node.name}")
        health.mark_missing(gpu, at)
        result.inventory["missing"].append(gpu.uuid)
        dirty[gpu.pk] = gpu
    if vanished_by_index:
        Gpu.objects.filter(pk__in=[g.pk for g in vanished_by_index.values()]).update(present=False)
    for item in clean.inventory:
        gpu = gpus.get(item["uuid"])
        if gpu is None:
            gpu = Gpu.objects.create(node=node, uuid=item["uuid"], last_seen=at, **{k: item[k] for k in INVENTORY_FIELDS})
            gpus[gpu.uuid] = gpu
            GpuEvent.objects.create(gpu=gpu, ts=at, kind=GpuEventKind.DISCOVERED,
                                    message=f"gpu{gpu.index} {gpu.model} discovered on {node.name}")
            result.inventory["added"].append(gpu.uuid)
            replaced = vanished_by_index.get(gpu.index)
            if replaced is not None:
                GpuEvent.objects.create(gpu=gpu, ts=at, kind=GpuEventKind.UUID_CHANGED,
                                        message=f"gpu{gpu.index} of {node.name}: UUID {replaced.uuid} -> {gpu.uuid}",
                                        data={"index": gpu.index, "before": replaced.uuid, "after": gpu.uuid})
                result.inventory["uuid_changed"].append({"index": gpu.index, "before": replaced.uuid,
                                                         "after": gpu.uuid})
            continue
        if gpu.node_id != node.pk:
            GpuEvent.objects.create(gpu=gpu, ts=at, kind=GpuEventKind.MOVED,
                                    message=f"moved from {gpu.node.name} to {node.name}",
                                    data={"from": gpu.node_id, "to": node.pk})
            result.inventory["moved"].append(gpu.uuid)
            gpu.node = node
        if not gpu.present:
            gpu.present = True
            GpuEvent.objects.create(gpu=gpu, ts=at, kind=GpuEventKind.RETURNED, message=f"gpu{item['index']} is back")
            health.mark_returned(gpu, at)
            result.inventory["returned"].append(gpu.uuid)
        changed = [k for k in INVENTORY_FIELDS if getattr(gpu, k) != item[k]]
        if changed:
            if changed != ["power_limit_w"]:  # a power cap is operated often: not an inventory change
                result.inventory["changed"].append({"uuid": gpu.uuid, "fields": changed})
            for k in changed:
                setattr(gpu, k, item[k])
        gpu.last_seen = max(gpu.last_seen or at, at)
        dirty[gpu.pk] = gpu
