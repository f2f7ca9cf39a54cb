"""GPUs: what a user may see, operator changes (labels, maintenance), status, metrics, summary.

Every change is permission-checked through apps.rbac.permissions and audited here, whatever the
entry point (API, admin, pages).
"""
from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from apps.core.audit import record_audit
from apps.core.errors import Forbidden, InvalidInput
from apps.rbac.permissions import can, restrict

from . import health as rules
from .models import GPU_METRICS, Gpu, GpuEvent, GpuHealth, GpuRollup1h, GpuRollup1m, GpuSample

AUDITED_FIELDS = ["labels", "health", "health_reason"]
OPERATOR_HEALTH = (GpuHealth.OK, GpuHealth.MAINTENANCE)  # degraded and failed are the rules' verdicts
MAX_POINTS = 20_000  # of one metrics answer: (end - start) / step


def visible_gpus(user, action: str = "view"):
    return restrict(Gpu.objects.select_related("node"), user, action)


def _fields(gpu: Gpu) -> dict:
    return {f: getattr(gpu, f) for f in AUDITED_FIELDS}


@transaction.atomic
def update_gpu(actor, gpu: Gpu, **changes) -> Gpu:
    """Labels, and health set to maintenance (a reason required) or back to ok by an operator."""
    if not can(actor, gpu, "change"):
        raise Forbidden("You may not change this GPU.")
    unknown = set(changes) - set(AUDITED_FIELDS)
    if unknown:
        raise InvalidInput({name: ["Not editable."] for name in sorted(unknown)})
    gpu = Gpu.objects.select_for_update().select_related("node").get(pk=gpu.pk)
    before = _fields(gpu)
    if "labels" in changes:
        gpu.labels = changes["labels"]
        try:
            gpu.full_clean(validate_unique=False, validate_constraints=False,
                           exclude=[f.name for f in Gpu._meta.fields if f.name != "labels"])
        except ValidationError as exc:
            raise InvalidInput(exc.message_dict) from None
    new_health = changes.get("health", gpu.health)
    reason = changes.get("health_reason")
    if "health" in changes or "health_reason" in changes:
        if new_health not in OPERATOR_HEALTH and new_health != gpu.health:
            raise InvalidInput({"health": [f"Operators set {' or '.join(OPERATOR_HEALTH)}; degraded and failed "
                                           "come from the health rules."]})
        if new_health == GpuHealth.MAINTENANCE and not (reason or "").strip() and gpu.health != GpuHealth.MAINTENANCE:
            raise InvalidInput({"health_reason": ["Say why the GPU goes into maintenance."]})
        if reason is None:
            reason = gpu.health_reason if new_health == gpu.health else f"set by {actor.get_username()}"
        if new_health != gpu.health:
            gpu.thermal_throttle_since = None  # the thermal rule's clock starts over
        rules.set_health(gpu, new_health, reason.strip()[:300], at=timezone.now(), save=False)
    gpu.save()
    after = _fields(gpu)
    if after != before:
        record_audit("gpu.update", actor=actor, obj=gpu, before=before, after=after)
    return gpu


def status(gpu: Gpu) -> dict:
    """What a status view shows: inventory, health with its reason, the newest sample, recent events."""
    events = list(GpuEvent.objects.filter(gpu=gpu).order_by("-ts", "-id")[:20])
    return {
        "id": gpu.pk, "uuid": gpu.uuid, "node": gpu.node.name, "index": gpu.index, "model": gpu.model,
        "present": gpu.present, "last_seen": gpu.last_seen,
        "health": gpu.health, "health_reason": gpu.health_reason, "health_changed_at": gpu.health_changed_at,
        "thermal_throttle_since": gpu.thermal_throttle_since,
        "sample": gpu.last_sample or None, "sample_at": gpu.last_sample_at,
        "memory_total_mib": gpu.memory_total_mib, "power_limit_w": gpu.power_limit_w,
        "mig_mode": gpu.mig_mode, "mig_devices": gpu.mig_devices,
        "events": [{"ts": e.ts, "kind": e.kind, "xid": e.xid, "message": e.message} for e in events],
    }


# --- metrics ----------------------------------------------------------------------------------
def source_for(step: float) -> str:
    """The coarsest series whose resolution still fits the step: fewer rows to read."""
    if step >= 3600:
        return "1h"
    if step >= 60:
        return "1m"
    return "raw"


class PointsJSON(str):
    """A metrics answer's `points`, already the JSON text of the list (PostgreSQL wrote it)."""


def metrics(gpu: Gpu, start: dt.datetime, end: dt.datetime, step: float, *, points_json: bool = False) -> dict:
    """Each metric's average and maximum per `step` seconds in [start, end), from the raw samples,
    the minute or the hour rollup (whichever `step` allows). Buckets without data are left out.
    `points_json`: the raw series on PostgreSQL comes as PointsJSON (a day at 5 s is 17,280
    points; Python objects for each, then their encoding, cost ten times the query)."""
    check_window(start, end, step)
    source = source_for(step)
    if source == "raw" and connection.vendor == "postgresql" and points_json:
        points = PointsJSON(_raw_points_json(gpu, start, end, step))
    elif source == "raw" and connection.vendor == "postgresql":
        points = _raw_points_sql(gpu, start, end, step)
    elif source == "raw":
        rows = GpuSample.objects.filter(gpu_id=gpu.pk, ts__gte=start, ts__lt=end).order_by("ts").values_list(
            "ts", *GPU_METRICS)
        rows = ((ts, 1, *((v, v) for v in values)) for ts, *values in rows)
        points = buckets(rows, start.timestamp(), step, GPU_METRICS)
    else:
        model = GpuRollup1h if source == "1h" else GpuRollup1m
        names = [f"{m}_{s}" for m in GPU_METRICS for s in ("avg", "max")]
        flat = model.objects.filter(gpu_id=gpu.pk, bucket__gte=start, bucket__lt=end).order_by("bucket").values_list(
            "bucket", "samples", *names)
        rows = ((ts, n, *zip(values[0::2], values[1::2])) for ts, n, *values in flat)
        points = buckets(rows, start.timestamp(), step, GPU_METRICS)
    return {"gpu": gpu.pk, "uuid": gpu.uuid, "source": source, "start": start, "end": end, "step": step,
            "metrics": list(GPU_METRICS), "points": points}


def _raw_points_sql(gpu: Gpu, start, end, step: float) -> list[dict]:
    """The raw series bucketed by PostgreSQL (one row per point instead of one per sample; the
    time bounds prune the daily partitions)."""
    stats = ", ".join(f"avg({m}), max({m})" for m in GPU_METRICS)
    origin = start.timestamp()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT floor((extract(epoch FROM ts) - %s) / %s)::bigint AS k, count(*), {stats} "
                       f"FROM {GpuSample._meta.db_table} WHERE gpu_id = %s AND ts >= %s AND ts < %s "
                       f"GROUP BY k ORDER BY k", [origin, step, gpu.pk, start, end])
        rows = cursor.fetchall()
    points = []
    for key, samples, *values in rows:
        point = {"t": dt.datetime.fromtimestamp(origin + key * step, dt.timezone.utc), "samples": samples}
        for i, name in enumerate(GPU_METRICS):
            point[name] = {"avg": values[2 * i], "max": values[2 * i + 1]}
        points.append(point)
    return points


def _raw_points_json(gpu: Gpu, start, end, step: float) -> str:
    """_raw_points_sql's points as the JSON text DRF renders (times in ISO 8601 with Z, microseconds
    only when there are some; numbers in PostgreSQL's shortest exact form), written by PostgreSQL:
    each value converted to text once (a bucket of one sample, the usual case at a fine step, has
    avg = max), each point's text made by one concat()."""
    stats = ", ".join(f"avg({m}) AS {m}_avg, max({m}) AS {m}_max" for m in GPU_METRICS)
    texts = ", ".join(f"coalesce({m}_avg::text, 'null') AS {m}_a, "
                      f"CASE WHEN n = 1 THEN NULL ELSE coalesce({m}_max::text, 'null') END AS {m}_m"
                      for m in GPU_METRICS)
    # '},"next":{"avg":' is one piece: fewer arguments to concat() per point.
    values = ", ".join(f"""'{"}," if i else ","}"{m}":{{"avg":', {m}_a, ',"max":', coalesce({m}_m, {m}_a)"""
                       for i, m in enumerate(GPU_METRICS))
    origin = start.timestamp()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT coalesce(string_agg(concat('{{"t":"', to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS'), CASE """
            f"""WHEN date_trunc('second', t) = t THEN '' ELSE to_char(t, '.US') END, 'Z","samples":', n, """
            f"""{values}, '}}}}'), ',' ORDER BY k), '') FROM ("""
            f"SELECT k, n, to_timestamp(%s + k * %s) AT TIME ZONE 'UTC' AS t, {texts} "
            f"FROM (SELECT floor((extract(epoch FROM ts) - %s) / %s)::bigint AS k, count(*) AS n, {stats} "
            f"FROM {GpuSample._meta.db_table} WHERE gpu_id = %s AND ts >= %s AND ts < %s GROUP BY k) AS b "
            f"OFFSET 0) AS p",  # OFFSET 0: each value's text is made once, not once per use
            [origin, step, origin, step, gpu.pk, start, end])
        return "[" + cursor.fetchone()[0] + "]"


def check_window(start: dt.datetime, end: dt.datetime, step: float) -> None:
    """A chart's time window: refused by field when empty, backwards or more than MAX_POINTS steps."""
    if end <= start:
        raise InvalidInput({"end": ["Must be after start."]})
    if step <= 0:
        raise InvalidInput({"step": ["Must be a positive number of seconds."]})
    if (end - start).total_seconds() / step > MAX_POINTS:
        raise InvalidInput({"step": [f"At most {MAX_POINTS} points per answer: use a larger step."]})


def buckets(rows, origin: float, step: float, names) -> list[dict]:
    """Rows (ts, weight, (avg, max) per metric in `names`) folded into one point per `step` seconds
    from `origin`: the weighted average and the maximum of each metric; empty buckets left out."""
    points: dict[int, list] = {}
    for ts, weight, *pairs in rows:
        key = int((ts.timestamp() - origin) // step)
        acc = points.get(key)
        if acc is None:
            acc = points[key] = [0, [[0.0, 0, None] for _ in pairs]]
        acc[0] += weight
        for slot, (avg, high) in zip(acc[1], pairs):
            if avg is not None:
                slot[0] += avg * weight
                slot[1] += weight
            if high is not None and (slot[2] is None or high > slot[2]):
                slot[2] = high
    out = []
    for key in sorted(points):
        samples, slots = points[key]
        point = {"t": dt.datetime.fromtimestamp(origin + key * step, dt.timezone.utc), "samples": samples}
        for name, (total, n, high) in zip(names, slots):
            point[name] = {"avg": total / n if n else None, "max": high}
        out.append(point)
    return out


# --- summary ----------------------------------------------------------------------------------
def summary(user) -> dict:
    """Fleet counts over the GPUs the user may see, in two queries."""
    gpus = visible_gpus(user).order_by()
    totals = gpus.aggregate(n_total=Count("id"), n_present=Count("id", filter=Q(present=True)),
                            n_missing=Count("id", filter=Q(present=False)), n_nodes=Count("node_id", distinct=True),
                            **{f"n_{h.value}": Count("id", filter=Q(present=True, health=h)) for h in GpuHealth})
    models = list(gpus.filter(present=True).values("model").annotate(count=Count("id"))
                  .order_by("-count", "model")[:50])
    return {"gpus": totals["n_total"], "present": totals["n_present"], "missing": totals["n_missing"],
            "nodes": totals["n_nodes"], "health": {h.value: totals[f"n_{h.value}"] for h in GpuHealth},
            "models": models}


def delete_gpu(actor, gpu: Gpu) -> None:
    """Only a GPU that vanished may be removed (its samples go with it); a present one comes back
    with the next inventory, so deleting it would hide nothing and lose its history."""
    from apps.core.errors import Conflict

    if not can(actor, gpu, "delete"):
        raise Forbidden("You may not delete this GPU.")
    if gpu.present:
        raise Conflict(f"{gpu} is still present on its node; only vanished GPUs are removed.")
    with transaction.atomic():
        record_audit("gpu.delete", actor=actor, obj=gpu, before={"uuid": gpu.uuid, "node": gpu.node.name,
                                                                 "index": gpu.index, **_fields(gpu)})
        gpu.delete()
