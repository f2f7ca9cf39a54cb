"""/metrics at fleet size: the scrape Prometheus makes every interval, with the dcgm-exporter gauges
of every GPU (apps/gpus/metrics.py) plus every other collector.

    python -m bench.gpu_metrics --out bench/results/gpu_metrics.json [--gpus 10000] [--runs 30]

Needs DATABASE_URL (PostgreSQL, migrated); `scripts/bench.sh` provides it. Builds --gpus GPUs (8
per node) whose newest sample is fresh, then times (a) the collectors alone (metrics.render(), no
HTTP) and (b) GET /metrics through Django's handler (middleware included, no network), each
--runs times after one warm-up, and counts the SQL statements of one scrape. The rows it made are
removed at the end. Standalone: does not import pytest or the test suite.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")
django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.core import metrics  # noqa: E402
from apps.gpus.models import Gpu  # noqa: E402
from apps.nodes.models import Node  # noqa: E402

from .measure import machine_info, ms_stats  # noqa: E402

PREFIX = "bench-metrics-"
PER_NODE = 8


def build(gpus: int) -> None:
    now = timezone.now()
    nodes = Node.objects.bulk_create([Node(name=f"{PREFIX}{i:05d}", address=f"10.{100 + i // 65536}.{i // 256 % 256}."
                                                                            f"{i % 256}")
                                      for i in range((gpus + PER_NODE - 1) // PER_NODE)], batch_size=1000)
    rows = []
    for n, node in enumerate(nodes):
        for index in range(min(PER_NODE, gpus - n * PER_NODE)):
            rows.append(Gpu(node=node, index=index, uuid=f"GPU-{PREFIX}{n:05d}-{index}", model="NVIDIA H100 80GB HBM3",
                            memory_total_mib=81559, last_sample_at=now,
                            last_sample={"utilization_pct": 50.0 + index, "memory_used_mib": 40960.0,
                                         "temperature_c": 60.0, "power_w": 400.0, "sm_clock_mhz": 1980.0,
                                         "ecc_corrected": 0, "ecc_uncorrected": 0, "row_remap_failure": False,
                                         "throttle_reasons": []}))
    Gpu.objects.bulk_create(rows, batch_size=2000)


def clean() -> None:
    Node.objects.filter(name__startswith=PREFIX).delete()


def timed(fn, runs: int) -> tuple[list[float], int]:
    fn()  # warm-up: connection, content types, imports
    latencies = []
    size = 0
    for _ in range(runs):
        started = time.perf_counter()
        size = len(fn())
        latencies.append(time.perf_counter() - started)
    return latencies, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--gpus", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    clean()
    build(args.gpus)
    client = Client(HTTP_HOST="localhost", REMOTE_ADDR="127.0.0.1")  # loopback may scrape (no token set)

    def scrape() -> bytes:
        response = client.get("/metrics")
        assert response.status_code == 200, response.status_code
        return response.content

    try:
        info = machine_info()
        render, size = timed(metrics.render, args.runs)
        http, _ = timed(scrape, args.runs)
        with CaptureQueriesContext(connection) as queries:
            scrape()
        series = sum(1 for line in metrics.render().decode().splitlines() if line.startswith("DCGM_FI_DEV_"))
        result = {"machine": info, "gpus": args.gpus, "gpus_per_node": PER_NODE, "runs": args.runs,
                  "dcgm_series": series, "body_bytes": size, "sql_statements_per_scrape": len(queries),
                  "collectors_only": ms_stats(render), "get_metrics": ms_stats(http),
                  "aim_ms": 500, "loadavg_at_end": [round(v, 2) for v in os.getloadavg()]}
    finally:
        clean()
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2)
    print(json.dumps({k: result[k] for k in ("gpus", "dcgm_series", "sql_statements_per_scrape",
                                             "collectors_only", "get_metrics")}, indent=2))


if __name__ == "__main__":
    main()
