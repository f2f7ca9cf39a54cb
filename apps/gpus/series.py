"""Chart series of one GPU: average and maximum of each metric per `step` seconds, from the raw
samples, the minute or the hour rollup, in two layouts.

- `points` (the default): one object per point, `{"t", "samples", "<metric>": {"avg", "max"}}`.
- `columns` (what the charts ask for): one array per figure, times as `origin + k * step`:
  `{"origin", "k": [...], "samples": [...], "avg": {"<metric>": [...]}, "max": {...}}`. A day
  at 5 s is 17,280 points; as columns PostgreSQL writes the whole answer as a few array texts
  (a quarter of the bytes of the points, no per-point object built anywhere).

On PostgreSQL the raw series is bucketed by the database (`_raw_*`); elsewhere, and from the
rollups, in Python (`buckets`). Both put a sample at `floor((epoch - origin) / step)`.
"""
from __future__ import annotations

import datetime as dt
import enum
import math

from django.db import connection

from apps.core.api.raw_json import RawJSON
from apps.core.errors import InvalidInput

from .models import GPU_METRICS, Gpu, GpuRollup1h, GpuRollup1m, GpuSample

MAX_POINTS = 20_000  # of one metrics answer: (end - start) / step


class Layout(str, enum.Enum):
    POINTS = "points"
    COLUMNS = "columns"


def source_for(step: float) -> str:
    """The coarsest series whose resolution still fits the step: fewer rows to read."""
    if step >= 3600:
        return "1h"
    if step >= 60:
        return "1m"
    return "raw"


def check_window(start: dt.datetime, end: dt.datetime, step: float) -> None:
    """A chart's time window: refused by field when empty, backwards or more than MAX_POINTS steps."""
    if end <= start:
        raise InvalidInput({"end": ["Must be after start."]})
    if step <= 0:
        raise InvalidInput({"step": ["Must be a positive number of seconds."]})
    if (end - start).total_seconds() / step > MAX_POINTS:
        raise InvalidInput({"step": [f"At most {MAX_POINTS} points per answer: use a larger step."]})


def metrics(gpu: Gpu, start: dt.datetime, end: dt.datetime, step: float, layout: Layout = Layout.POINTS,
            *, database_json: bool = False) -> dict:
    """The answer of GET /api/v1/gpus/<id>/metrics/. Buckets without data are left out.
    `database_json`: on PostgreSQL the raw series comes as RawJSON text written by the database
    (Python objects for 17,280 points, then their encoding, cost several times the query)."""
    check_window(start, end, step)
    source = source_for(step)
    head = {"gpu": gpu.pk, "uuid": gpu.uuid, "source": source, "start": start, "end": end, "step": step,
            "metrics": list(GPU_METRICS), "layout": layout.value}
    if source == "raw" and connection.vendor == "postgresql" and database_json:
        if layout is Layout.COLUMNS:
            return head | _raw_columns_json(gpu, start, end, step)
        return head | {"points": RawJSON(_raw_points_json(gpu, start, end, step))}
    if source == "raw" and connection.vendor == "postgresql":
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
    return head | laid_out(points, layout, start.timestamp(), step, GPU_METRICS)


def laid_out(points: list[dict], layout: Layout, origin: float, step: float, names) -> dict:
    """Points as `buckets` makes them, in the asked layout."""
    if layout is Layout.POINTS:
        return {"points": points}
    return {"origin": origin,
            "k": [round((p["t"].timestamp() - origin) / step) for p in points],
            "samples": [p["samples"] for p in points],
            "avg": {name: [p[name]["avg"] for p in points] for name in names},
            "max": {name: [p[name]["max"] for p in points] for name in names}}


def bucket_of(ts: dt.datetime, origin: float, step: float) -> int:
    return math.floor((ts.timestamp() - origin) / step)


def buckets(rows, origin: float, step: float, names) -> list[dict]:
    """Rows (ts, weight, (avg, max) per metric in `names`) folded into one point per `step` seconds
    from `origin`: the weighted average and the maximum of each metric; empty buckets left out."""
    points: dict[int, list] = {}
    for ts, weight, *pairs in rows:
        key = bucket_of(ts, origin, step)
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


# --- PostgreSQL: the raw series bucketed (and written) by the database --------------------------
def _bucket_key() -> str:
    # The same IEEE arithmetic as `bucket_of`: date_part's epoch is the float8 nearest to the
    # stored microseconds / 1e6, as datetime.timestamp() is (extract() would be exact numeric,
    # a quarter of the query's time, and could differ from Python at a bucket's edge).
    return "floor((date_part('epoch', ts) - %s) / %s)::bigint"


def _window_sql() -> str:
    return f"FROM {GpuSample._meta.db_table} WHERE gpu_id = %s AND ts >= %s AND ts < %s"


def _raw_points_sql(gpu: Gpu, start, end, step: float) -> list[dict]:
    """The raw series bucketed by PostgreSQL (one row per point instead of one per sample; the
    time bounds prune the daily partitions)."""
    stats = ", ".join(f"avg({m}), max({m})" for m in GPU_METRICS)
    origin = start.timestamp()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_bucket_key()} AS k, count(*), {stats} {_window_sql()} GROUP BY k ORDER BY k",
                       [origin, step, gpu.pk, start, end])
        rows = cursor.fetchall()
    points = []
    for key, samples, *values in rows:
        point = {"t": dt.datetime.fromtimestamp(origin + key * step, dt.timezone.utc), "samples": samples}
        for i, name in enumerate(GPU_METRICS):
            point[name] = {"avg": values[2 * i], "max": values[2 * i + 1]}
        points.append(point)
    return points


def _array_json(text: str | None) -> RawJSON:
    """PostgreSQL's text of a number array (`{1,2.5,NULL}`) as JSON: samples are finite numbers
    (apps/gpus/record.py refuses NaN and infinities), so only braces and NULL differ."""
    if text is None:
        return RawJSON("[]")
    return RawJSON("[" + text[1:-1].replace("NULL", "null") + "]")


def _raw_columns_json(gpu: Gpu, start, end, step: float) -> dict:
    """The columns layout of the raw series. At a step no finer than the sampling interval each
    bucket holds one sample, so the samples themselves are the columns (avg = max) and nothing is
    grouped; only when a bucket holds several does PostgreSQL group them."""
    origin = start.timestamp()
    params = [origin, step, gpu.pk, start, end]
    values = ", ".join(GPU_METRICS)
    with connection.cursor() as cursor:
        # The subquery's order (the index's, by time) is the arrays' order: k rises with ts.
        cursor.execute("SELECT count(*), count(DISTINCT k), array_agg(k)::text, "
                       + ", ".join(f"array_agg({m})::text" for m in GPU_METRICS)
                       + f" FROM (SELECT {_bucket_key()} AS k, {values} {_window_sql()} ORDER BY ts) AS s", params)
        rows, keys, k, *columns = cursor.fetchone()
        if rows == keys:
            avg = {m: _array_json(text) for m, text in zip(GPU_METRICS, columns)}
            return {"origin": origin, "k": _array_json(k), "samples": RawJSON("[" + ",".join(["1"] * rows) + "]"),
                    "avg": avg, "max": avg}
        stats = ", ".join(f"avg({m}) AS {m}_avg, max({m}) AS {m}_max" for m in GPU_METRICS)
        arrays = ", ".join(f"array_agg({m}_{s})::text" for m in GPU_METRICS for s in ("avg", "max"))
        cursor.execute(f"SELECT array_agg(k)::text, array_agg(n)::text, {arrays} FROM ("
                       f"SELECT {_bucket_key()} AS k, count(*) AS n, {stats} {_window_sql()} GROUP BY k ORDER BY k"
                       f") AS b", params)
        k, n, *pairs = cursor.fetchone()
    return {"origin": origin, "k": _array_json(k), "samples": _array_json(n),
            "avg": {m: _array_json(pairs[2 * i]) for i, m in enumerate(GPU_METRICS)},
            "max": {m: _array_json(pairs[2 * i + 1]) for i, m in enumerate(GPU_METRICS)}}


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
            f"FROM (SELECT {_bucket_key()} AS k, count(*) AS n, {stats} {_window_sql()} GROUP BY k) AS b "
            f"OFFSET 0) AS p",  # OFFSET 0: each value's text is made once, not once per use
            [origin, step, origin, step, gpu.pk, start, end])
        return "[" + cursor.fetchone()[0] + "]"
