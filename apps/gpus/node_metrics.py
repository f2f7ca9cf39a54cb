"""A node's CPU, load, memory, network and disk series for the node page's charts.

Node samples have no rollups (one row per node per interval, against one per GPU): an answer
averages and takes the maximum of the raw samples per `step` seconds, reading only the columns it
returns, and is bounded like the GPU metrics (MAX_POINTS)."""
from __future__ import annotations

import datetime as dt

from apps.core.errors import InvalidInput

from .models import NodeSample
from .services import MAX_POINTS

NODE_METRICS = ("cpu_pct", "load1", "memory_used_bytes", "memory_total_bytes", "net_rx_bps", "net_tx_bps",
                "disk_read_bps", "disk_write_bps")


def node_metrics(node, start: dt.datetime, end: dt.datetime, step: float) -> dict:
    if end <= start:
        raise InvalidInput({"end": ["Must be after start."]})
    if step <= 0:
        raise InvalidInput({"step": ["Must be a positive number of seconds."]})
    if (end - start).total_seconds() / step > MAX_POINTS:
        raise InvalidInput({"step": [f"At most {MAX_POINTS} points per answer: use a larger step."]})
    rows = NodeSample.objects.filter(node_id=node.pk, ts__gte=start, ts__lt=end).order_by("ts").values_list(
        "ts", *NODE_METRICS)
    origin = start.timestamp()
    buckets: dict[int, list] = {}
    for ts, *values in rows.iterator(chunk_size=5000):
        key = int((ts.timestamp() - origin) // step)
        acc = buckets.get(key)
        if acc is None:
            acc = buckets[key] = [0, [[0.0, 0, None] for _ in NODE_METRICS]]
        acc[0] += 1
        for slot, value in zip(acc[1], values):
            if value is not None:
                slot[0] += value
                slot[1] += 1
                if slot[2] is None or value > slot[2]:
                    slot[2] = value
    points = []
    for key in sorted(buckets):
        samples, slots = buckets[key]
        point = {"t": dt.datetime.fromtimestamp(origin + key * step, dt.timezone.utc), "samples": samples}
        for name, (total, n, high) in zip(NODE_METRICS, slots):
            point[name] = {"avg": total / n if n else None, "max": high}
        points.append(point)
    return {"node": node.pk, "name": node.name, "source": "raw", "start": start, "end": end, "step": step,
            "metrics": list(NODE_METRICS), "points": points}
