"""The one way telemetry gets in: `ingest(node, record, source=...)`, used by the API (agent
pushes, user pushes) and by agentless collection alike.

A batch is validated whole first (apps/gpus/record.py), then stored in one transaction:
inventory upsert, samples (bulk inserts), XID events, health rules. Nothing of a refused batch
is written. One audit entry per batch that changed the inventory; none for samples.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from apps.core.audit import record_audit
from apps.core.bulk_copy import copy_rows
from apps.core.errors import InvalidInput
from apps.nodes.models import Node

from . import health, partitions
from .models import GPU_METRICS, Gpu, GpuEvent, GpuEventKind, GpuSample, NodeSample
from .record import Record, validate

INVENTORY_FIELDS = ("index", "model", "memory_total_mib", "driver_version", "cuda_version", "pci_bus_id",
                    "mig_mode", "mig_devices", "power_limit_w")
BATCH = 2_000  # rows per INSERT statement
GPU_SAMPLE_COLUMNS = ("gpu_id", "ts", *GPU_METRICS, "ecc_corrected", "ecc_uncorrected", "row_remap_failure",
                      "throttle_reasons")
GPU_SAMPLE_TYPES = ("int8", "timestamptz", *("float8",) * len(GPU_METRICS), "int8", "int8", "bool", "jsonb")
NODE_SAMPLE_COLUMNS = ("node_id", "ts", "cpu_pct", "load1", "memory_used_bytes", "memory_total_bytes", "net_rx_bps",
                       "net_tx_bps", "disk_read_bps", "disk_write_bps")
NODE_SAMPLE_TYPES = ("int8", "timestamptz", *("float8",) * (len(NODE_SAMPLE_COLUMNS) - 2))
# Written on every batch for the GPUs it has samples of; the other GPU columns only change with
# inventory or health (rare), and a general bulk_update of all of them costs as much as the samples.
SAMPLE_STATE_FIELDS = ("last_seen", "last_sample", "last_sample_at", "thermal_throttle_since")
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
    duplicates: int = 0  # samples already stored (a batch sent again after its answer was lost)

    def as_dict(self) -> dict:
        return {"gpus": self.gpus, "gpu_samples": self.gpu_samples, "node_samples": self.node_samples,
                "duplicates": self.duplicates, "events": self.events, "health_changes": self.health_changes,
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
    elsewhere = [uuid for uuid in inventory_uuids if uuid not in gpus]  # new, or moved here from another node
    if elsewhere:
        gpus.update({g.uuid: g for g in Gpu.objects.filter(uuid__in=elsewhere).select_related("node")})
    dirty: dict[int, Gpu] = {}  # GPUs whose inventory or health changed: every column is written
    touched: dict[int, Gpu] = {}  # GPUs only seen or sampled: SAMPLE_STATE_FIELDS are written
    if clean.inventory is not None:
        _upsert_inventory(node, clean, gpus, dirty, touched, result)
    by_uuid = {uuid: g for uuid, g in gpus.items() if g.node_id == node.pk}
    _check_known(clean, by_uuid)
    per_gpu: dict[str, list[dict]] = {}
    for sample in clean.gpu_samples:
        per_gpu.setdefault(sample["uuid"], []).append(sample)
    result.gpu_samples, result.node_samples, result.duplicates = _insert_samples(node, clean, by_uuid)
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
            touched[gpu.pk] = gpu
        if gpu.thermal_throttle_since != before_since:
            touched[gpu.pk] = gpu
    _store_events(clean, by_uuid, dirty, result)
    if dirty:
        Gpu.objects.bulk_update(list(dirty.values()), ["node", "present", "health", "health_reason",
                                                       "health_changed_at", *SAMPLE_STATE_FIELDS, *INVENTORY_FIELDS],
                                batch_size=500)
    _update_sample_state([gpu for pk, gpu in touched.items() if pk not in dirty])
    result.gpus = len(by_uuid)
    if result.inventory_changed:
        record_audit("gpu.inventory", actor=actor, obj=node,
                     after={"source": clean.source, **result.as_dict()["inventory"]})
    return result


def _insert_samples(node: Node, clean: Record, by_uuid: dict) -> tuple[int, int, int]:
    """Multi-row inserts; on PostgreSQL, COPY (several times faster than INSERT at 1,000 rows).
    A sample whose (GPU or node, time) is already stored is skipped: an agent sends a batch again
    when the answer to its first try was lost, and that must not count twice. Returns the GPU and
    node samples stored and the duplicates skipped."""
    gpu_rows = _new_rows(GpuSample, "gpu_id", [
        (by_uuid[s["uuid"]].pk, s["ts"], *(s[m] for m in GPU_METRICS), s["ecc_corrected"],
         s["ecc_uncorrected"], s["row_remap_failure"], s["throttle_reasons"]) for s in clean.gpu_samples])
    node_rows = _new_rows(NodeSample, "node_id", [(node.pk, *(s[c] for c in NODE_SAMPLE_COLUMNS[1:]))
                                                  for s in clean.node_samples])
    duplicates = len(clean.gpu_samples) + len(clean.node_samples) - len(gpu_rows) - len(node_rows)
    if connection.vendor == "postgresql":
        reasons: dict[tuple, Jsonb] = {}  # a few distinct lists per batch: each encoded once
        copy_rows(GpuSample._meta.db_table, GPU_SAMPLE_COLUMNS,
                  [(*row[:-1], reasons.get(key) or reasons.setdefault(key, _encoded_once(row[-1])))
                   for row in gpu_rows for key in (tuple(row[-1]),)], GPU_SAMPLE_TYPES)
        copy_rows(NodeSample._meta.db_table, NODE_SAMPLE_COLUMNS, node_rows, NODE_SAMPLE_TYPES)
    else:
        GpuSample.objects.bulk_create([GpuSample(**dict(zip(GPU_SAMPLE_COLUMNS, row))) for row in gpu_rows],
                                      batch_size=BATCH)
        NodeSample.objects.bulk_create([NodeSample(**dict(zip(NODE_SAMPLE_COLUMNS, row))) for row in node_rows],
                                       batch_size=BATCH)
    return len(gpu_rows), len(node_rows), duplicates


def _new_rows(model, owner: str, rows: list[tuple]) -> list[tuple]:
    """`rows` (owner id, ts, ...) without those already stored or repeated in the batch (one query
    over the batch's time span; the node's ingest lock keeps a concurrent twin out)."""
    if not rows:
        return rows
    times = [row[1] for row in rows]
    seen = set(model.objects.filter(**{f"{owner}__in": {row[0] for row in rows}, "ts__gte": min(times),
                                       "ts__lte": max(times)}).values_list(owner, "ts"))
    fresh = []
    for row in rows:
        if (row[0], row[1]) not in seen:
            seen.add((row[0], row[1]))
            fresh.append(row)
    return fresh


def _encoded_once(value) -> Jsonb:
    text = json.dumps(value)
    return Jsonb(value, dumps=lambda _: text)


def _update_sample_state(gpus: list) -> None:
    """The newest sample and the thermal clock of these GPUs, in one statement."""
    if not gpus:
        return
    if connection.vendor != "postgresql":
        Gpu.objects.bulk_update(gpus, list(SAMPLE_STATE_FIELDS), batch_size=500)
        return
    values = ", ".join(["(%s, %s::timestamptz, %s::jsonb, %s::timestamptz, %s::timestamptz)"] * len(gpus))
    params = [p for g in gpus for p in (g.pk, g.last_seen, json.dumps(g.last_sample), g.last_sample_at,
                                        g.thermal_throttle_since)]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Gpu._meta.db_table} AS g SET last_seen = v.seen, last_sample = v.sample, "
                       f"last_sample_at = v.at, thermal_throttle_since = v.since "
                       f"FROM (VALUES {values}) AS v(id, seen, sample, at, since) WHERE g.id = v.id", params)


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


def _upsert_inventory(node: Node, clean: Record, gpus: dict, dirty: dict, touched: dict, result: IngestResult) -> None:
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
            gpu = Gpu.objects.create(node=node, uuid=item["uuid"], last_seen=at,
                                     **{k: item[k] for k in INVENTORY_FIELDS})
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
            dirty[gpu.pk] = gpu
        if not gpu.present:
            gpu.present = True
            GpuEvent.objects.create(gpu=gpu, ts=at, kind=GpuEventKind.RETURNED, message=f"gpu{item['index']} is back")
            health.mark_returned(gpu, at)
            result.inventory["returned"].append(gpu.uuid)
            dirty[gpu.pk] = gpu
        changed = [k for k in INVENTORY_FIELDS if getattr(gpu, k) != item[k]]
        if changed:
            if changed != ["power_limit_w"]:  # a power cap is operated often: not an inventory change
                result.inventory["changed"].append({"uuid": gpu.uuid, "fields": changed})
            for k in changed:
                setattr(gpu, k, item[k])
            dirty[gpu.pk] = gpu
        gpu.last_seen = max(gpu.last_seen or at, at)
        touched[gpu.pk] = gpu
