"""A node's CPU, load, memory, network and disk series for the node page's charts.

Node samples have no rollups (one row per node per interval, against one per GPU): an answer
averages and takes the maximum of the raw samples per `step` seconds, reading only the columns it
returns, and is bounded like the GPU metrics (MAX_POINTS)."""
from __future__ import annotations

import datetime as dt

from .models import NodeSample
from .series import Layout, buckets, check_window, laid_out

NODE_METRICS = ("cpu_pct", "load1", "memory_used_bytes", "memory_total_bytes", "net_rx_bps", "net_tx_bps",
                "disk_read_bps", "disk_write_bps")


def node_metrics(node, start: dt.datetime, end: dt.datetime, step: float, layout: Layout = Layout.POINTS) -> dict:
    check_window(start, end, step)
    rows = NodeSample.objects.filter(node_id=node.pk, ts__gte=start, ts__lt=end).order_by("ts").values_list(
        "ts", *NODE_METRICS)
    raw = ((ts, 1, *((v, v) for v in values)) for ts, *values in rows.iterator(chunk_size=5000))
    return {"node": node.pk, "name": node.name, "source": "raw", "start": start, "end": end, "step": step,
            "metrics": list(NODE_METRICS), "layout": layout.value,
            **laid_out(buckets(raw, start.timestamp(), step, NODE_METRICS), layout, start.timestamp(), step,
                       NODE_METRICS)}
