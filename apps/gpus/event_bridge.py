"""What the GPU app publishes into the events app, and the GPU metrics alert rules can watch.

Connected from GpusConfig.ready(): inventory events (GpuEvent rows written with create())
become hardware.discovered / configuration.changed events; health changes (the
gpu_health_changed signal, after commit) become gpu.health_changed events and, when the node's
summary changes with them, node.health_changed.
"""
from __future__ import annotations

from django.db.models import Count, ExpressionWrapper, F, FloatField, Max, Min
from django.db.models.functions import NullIf
from django.db.models.signals import post_save

from apps.events import metrics
from apps.events.models import EventType, Severity
from apps.events.publish import publish

from . import health
from .models import Gpu, GpuEvent, GpuEventKind, GpuHealth, GpuSample
from .signals import gpu_health_changed

HEALTH_SEVERITY = {GpuHealth.FAILED: Severity.CRITICAL, GpuHealth.DEGRADED: Severity.WARNING}
INVENTORY_EVENTS = {GpuEventKind.DISCOVERED: EventType.HARDWARE_DISCOVERED,
                    GpuEventKind.UUID_CHANGED: EventType.CONFIGURATION_CHANGED,
                    GpuEventKind.MOVED: EventType.CONFIGURATION_CHANGED}


def _on_gpu_event(sender, instance: GpuEvent, created: bool, raw: bool = False, **kwargs):
    kind = INVENTORY_EVENTS.get(instance.kind)
    if created and not raw and kind:
        gpu = instance.gpu
        publish(kind, gpu, instance.message or f"{gpu} {instance.kind}",
                {"gpu": gpu.pk, "uuid": gpu.uuid, "model": gpu.model, "node": gpu.node_id, "kind": instance.kind,
                 **instance.data}, at=instance.ts)


def _worst(counts: dict) -> str:
    if counts.get("missing"):
        return GpuHealth.FAILED.value
    for state in (GpuHealth.FAILED, GpuHealth.DEGRADED, GpuHealth.MAINTENANCE, GpuHealth.OK):
        if counts.get(state.value):
            return state.value
    return "none"


def _on_health_changed(sender, gpu: Gpu, before: str, after: str, reason: str, **kwargs):
    publish(EventType.GPU_HEALTH_CHANGED, gpu, f"{gpu}: {before} -> {after}: {reason}",
            {"gpu": gpu.pk, "uuid": gpu.uuid, "before": before, "after": after, "reason": reason},
            severity=HEALTH_SEVERITY.get(after, Severity.INFO), at=gpu.health_changed_at)
    node = gpu.node
    now = health.node_summary(node)
    then = dict(now)
    if gpu.present:  # the summary as it was: this GPU still in its old state
        then[after] = then.get(after, 0) - 1
        then[before] = then.get(before, 0) + 1
    old, new = _worst(then), _worst(now)
    if old != new:
        publish(EventType.NODE_HEALTH_CHANGED, node, f"{node.name}: GPU health {old} -> {new} ({gpu}: {reason})",
                {"node": node.pk, "before": old, "after": new, "gpu": gpu.pk, "summary": now},
                severity=HEALTH_SEVERITY.get(new, Severity.INFO), at=gpu.health_changed_at)


# --- alert metrics ---------------------------------------------------------------------------------
def _gpu_reader(value):
    def read(rule, start, end) -> list[metrics.Reading]:
        rows = (GpuSample.objects.filter(ts__gt=start, ts__lte=end)
                .filter(metrics.scope_q(rule, "gpu__node", ("gpu__labels",)))
                .annotate(v=value).filter(v__isnull=False).values("gpu_id")
                .annotate(n=Count("id"), low=Min("v"), high=Max("v"), first=Min("ts")))
        return [metrics.Reading(r["gpu_id"], r["n"], r["low"], r["high"], r["first"]) for r in rows]
    return read


def _load_gpus(keys) -> dict:
    return Gpu.objects.select_related("node").in_bulk(keys)


_MEMORY_PCT = ExpressionWrapper(F("memory_used_mib") * 100.0 / NullIf(F("gpu__memory_total_mib"), 0),
                                output_field=FloatField())
GPU_METRICS = [
    ("gpu.temperature_c", "GPU temperature", "°C", F("temperature_c")),
    ("gpu.utilization_pct", "GPU utilization", "%", F("utilization_pct")),
    ("gpu.memory_used_pct", "GPU memory use", "%", _MEMORY_PCT),
    ("gpu.power_w", "GPU power", "W", F("power_w")),
]


def connect() -> None:
    post_save.connect(_on_gpu_event, sender=GpuEvent, dispatch_uid="gpus.events.inventory")
    gpu_health_changed.connect(_on_health_changed, dispatch_uid="gpus.events.health")
    for name, label, unit, value in GPU_METRICS:
        metrics.register(metrics.MetricSource(name, label, unit, _gpu_reader(value), _load_gpus))
