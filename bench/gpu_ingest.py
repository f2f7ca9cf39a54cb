"""GPU telemetry at fleet size: ingest through the API, and the 24-hour chart of one GPU.

    python -m bench.gpu_ingest --out bench/results/gpu_ingest.json --skip-chart [--nodes 1250] [--profile]
    python -m bench.gpu_ingest --out bench/results/gpu_chart.json --chart-only

Needs DATABASE_URL (PostgreSQL, migrated) and REDIS_URL; `scripts/bench.sh` provides both.

1. Ingest: --nodes nodes of 8 GPUs (10,000 GPUs), each with an agent credential. Every node
   sends one batch as its agent would after a gap: the record of docs/telemetry-record.md with the
   inventory, 1,000 GPU samples (8 GPUs x 125 ticks of 5 s) and 125 node samples. Posted
   (a) in process through DRF's APIClient, one after another (the server's cost alone, no
   network), and (b) to gunicorn (production config, 2 sync workers) by 2 client threads, each a
   keep-alive session with its own credentials. Bodies are encoded before the clock starts.
   Figures: samples/s, ms per batch, CPU seconds of gunicorn and PostgreSQL per 1,000 samples.
2. Chart: one GPU with 24 h of samples every 5 s (17,280, over two daily partitions);
   `GET /api/v1/gpus/<id>/metrics/?start=&end=&step=5&layout=columns` (what the chart pages ask
   for) in process (server time) and over HTTP, and the same in the points layout for comparison.

--profile writes the top of a cProfile of in-process ingest to <out>.profile.txt.
Rows it made are removed at the start and the end. Standalone: no pytest, no test suite.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")
django.setup()

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from apps.gpus import agent_auth, ingest  # noqa: E402
from apps.gpus.models import Gpu, GpuSample, NodeCredential, NodeSample  # noqa: E402
from apps.nodes.models import Node  # noqa: E402
from bench.measure import Cpu, code_info, machine_info, ms_stats, pct, write_result  # noqa: E402
from bench.pages import users  # noqa: E402
from devtools import processes  # noqa: E402

PREFIX = "bench-ingest-"
PER_NODE = 8
TICKS = 125  # 8 GPUs x 125 ticks = 1,000 GPU samples per batch
TICK_S = 5
CHART_POINTS = 17_280  # 24 h at 5 s
APP_NAME = "bench-gpu-ingest"
LOG_DIR = Path(settings.VAR_DIR) / "logs"
TELEMETRY = "/api/v1/telemetry/"


# --- the fleet -------------------------------------------------------------------------------
def clean() -> None:
    gpu_ids = list(Gpu.objects.filter(node__name__startswith=PREFIX).values_list("pk", flat=True))
    node_ids = list(Node.objects.filter(name__startswith=PREFIX).values_list("pk", flat=True))
    with connection.cursor() as cursor:  # the series have no foreign keys: delete them first, in SQL
        cursor.execute(f"DELETE FROM {GpuSample._meta.db_table} WHERE gpu_id = ANY(%s)", [gpu_ids])
        cursor.execute(f"DELETE FROM {NodeSample._meta.db_table} WHERE node_id = ANY(%s)", [node_ids])
    Node.objects.filter(pk__in=node_ids).delete()


def build(nodes: int) -> list[tuple[Node, str, list[str]]]:
    """(node, agent credential, GPU UUIDs) per node; the GPUs exist as an earlier inventory left them."""
    rows = Node.objects.bulk_create([Node(name=f"{PREFIX}{i:05d}", address=f"10.{200 + i // 65536}.{i // 256 % 256}."
                                                                          f"{i % 256}") for i in range(nodes)],
                                    batch_size=1000)
    fleet, gpus, creds = [], [], []
    for n, node in enumerate(rows):
        uuids = [f"GPU-{PREFIX}{n:05d}-{i}" for i in range(PER_NODE)]
        gpus += [Gpu(node=node, index=i, uuid=uuid, **inventory_item(i, uuid, model_field=True))
                 for i, uuid in enumerate(uuids)]
        key_id, credential = agent_auth.new_credential()
        creds.append(NodeCredential(node=node, key_id=key_id, secret_hash=agent_auth.credential_hash(credential)))
        fleet.append((node, credential, uuids))
    Gpu.objects.bulk_create(gpus, batch_size=2000)
    NodeCredential.objects.bulk_create(creds, batch_size=2000)
    return fleet


def inventory_item(index: int, uuid: str, model_field: bool = False) -> dict:
    item = {"memory_total_mib": 81559, "driver_version": "550.54.15", "cuda_version": "12.4",
            "pci_bus_id": f"00000000:{0x17 + index:02X}:00.0", "mig_mode": "Disabled", "mig_devices": [],
            "power_limit_w": 700.0}
    if model_field:
        return {"model": "NVIDIA H100 80GB HBM3", **item}
    return {"index": index, "uuid": uuid, "name": "NVIDIA H100 80GB HBM3", **item}


def iso(ts: dt.datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def record(n: int, uuids: list[str], start: dt.datetime, ticks: int = TICKS) -> dict:
    """A node's batch: inventory, `ticks` samples of each GPU every 5 s, a node sample per tick."""
    gpu_samples, node_samples = [], []
    for t in range(ticks):
        ts = iso(start + dt.timedelta(seconds=t * TICK_S))
        for i, uuid in enumerate(uuids):
            busy = (n + t + i) % 7 != 0
            gpu_samples.append({"uuid": uuid, "ts": ts, "utilization_pct": 97.0 if busy else 0.0,
                                "memory_used_mib": 40960 + 16 * t, "temperature_c": 60.0 + (t + i) % 15,
                                "power_w": 612.4 if busy else 71.5, "sm_clock_mhz": 1980,
                                "ecc_corrected": 0, "ecc_uncorrected": 0, "row_remap_failure": False,
                                "throttle_reasons": ["sw_power_cap"] if busy and t % 5 == 0 else []})
        node_samples.append({"ts": ts, "cpu_pct": 35.2, "load1": 12.5, "memory_used_bytes": 1.2e11,
                             "memory_total_bytes": 1.6e12, "net_rx_bps": 1.1e9, "net_tx_bps": 9.0e8,
                             "disk_read_bps": 2.0e8, "disk_write_bps": 5.0e7})
    return {"version": 1, "source": "agent", "collected_at": iso(start + dt.timedelta(seconds=(ticks - 1) * TICK_S)),
            "hostname": f"{PREFIX}{n:05d}", "inventory": [inventory_item(i, u) for i, u in enumerate(uuids)],
            "gpu_samples": gpu_samples, "node_samples": node_samples, "events": []}


def bodies(fleet, start: dt.datetime) -> list[tuple[str, bytes, int]]:
    """(credential, JSON body, GPU samples) per node."""
    out = []
    for n, (_, credential, uuids) in enumerate(fleet):
        rec = record(n, uuids, start)
        out.append((credential, json.dumps(rec).encode(), len(rec["gpu_samples"])))
    return out


# --- ingest ------------------------------------------------------------------------------------
def postgres_pid() -> int | None:
    """The postmaster of scripts/pg.sh's cluster (PG_DIR), whose children serve our sessions."""
    pg_dir = Path(os.environ.get("PG_DIR", "var/bench/pg"))
    for path in (pg_dir / "data" / "postmaster.pid", pg_dir / "cluster" / "data" / "postmaster.pid"):
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return None


def in_process(batches, profile_path: str | None) -> dict:
    client = APIClient(HTTP_HOST="localhost", REMOTE_ADDR="127.0.0.1")
    latencies, samples = [], 0
    profiler = cProfile.Profile() if profile_path else None
    cpu = Cpu({"bench": [os.getpid()], "postgresql": [postgres_pid()]})
    cpu.start()
    started = time.perf_counter()
    for credential, body, count in batches:
        t0 = time.perf_counter()
        if profiler:
            profiler.enable()
        response = client.post(TELEMETRY, body, content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {credential}")
        if profiler:
            profiler.disable()
        latencies.append(time.perf_counter() - t0)
        assert response.status_code == 201, (response.status_code, response.content[:500])
        assert response.json()["gpu_samples"] == count, response.content[:500]
        samples += count
    wall = time.perf_counter() - started
    usage = cpu.stop()
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_callees("_store|ingest.py:.*.ingest.|views.py.*post")
        Path(profile_path).write_text(out.getvalue())
    return {"batches": len(batches), "gpu_samples": samples, "wall_s": round(wall, 2),
            "samples_per_s": round(samples / wall), "batch": ms_stats(latencies),
            "cpu_pct": usage, "cpu_ms_per_1000_samples": cpu.ms_per(samples // 1000)}


def over_http(base: str, batches, clients: int, server: processes.Process) -> dict:
    shares = [batches[i::clients] for i in range(clients)]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client_loop(share):
        session = requests.Session()
        for credential, body, count in share:
            t0 = time.perf_counter()
            response = session.post(base + TELEMETRY, data=body, timeout=120, headers={
                "Authorization": f"Bearer {credential}", "Content-Type": "application/json"})
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                if response.status_code != 201 or response.json()["gpu_samples"] != count:
                    errors.append(f"{response.status_code} {response.text[:300]}")

    cpu = Cpu({"gunicorn": [server.pid], "postgresql": [postgres_pid()], "bench": [os.getpid()]})
    threads = [threading.Thread(target=client_loop, args=(share,)) for share in shares]
    cpu.start()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    usage = cpu.stop()
    samples = sum(count for _, _, count in batches)
    assert not errors, errors[:3]
    server_cpu = cpu.seconds["gunicorn"] + cpu.seconds["postgresql"]
    return {"clients": clients, "batches": len(batches), "gpu_samples": samples, "wall_s": round(wall, 2),
            "samples_per_s": round(samples / wall), "batch": ms_stats(latencies),
            "cpu_pct": usage, "cpu_ms_per_1000_samples": cpu.ms_per(samples // 1000),
            # What 2 cores given wholly to gunicorn and PostgreSQL would take (clients elsewhere).
            "samples_per_s_per_2_server_cores": round(2 * samples / server_cpu) if server_cpu else None}


# --- chart ---------------------------------------------------------------------------------------
def chart_gpu(end: dt.datetime) -> Gpu:
    """A GPU with a sample every 5 s over the 24 h before `end`, stored through the ingest service."""
    node = Node.objects.create(name=f"{PREFIX}chart", address="10.255.255.1")
    uuid = f"GPU-{PREFIX}chart"
    start = end - dt.timedelta(seconds=CHART_POINTS * TICK_S)
    per_batch = 1000
    for first in range(0, CHART_POINTS, per_batch):
        rec = record(0, [uuid], start + dt.timedelta(seconds=first * TICK_S),
                     ticks=min(per_batch, CHART_POINTS - first))
        rec["node_samples"] = []
        ingest.ingest(node, rec, source="agent")
    gpu = Gpu.objects.get(uuid=uuid)
    assert GpuSample.objects.filter(gpu_id=gpu.pk).count() == CHART_POINTS
    return gpu


def chart(gpu: Gpu, end: dt.datetime, token: str, base: str, runs: int, layout: str) -> dict:
    start = end - dt.timedelta(days=1)
    path = f"/api/v1/gpus/{gpu.pk}/metrics/?" + urlencode({"start": iso(start), "end": iso(end), "step": 5,
                                                             "layout": layout})
    client = APIClient(HTTP_HOST="localhost", REMOTE_ADDR="127.0.0.1")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"

    def local():
        response = client.get(path)
        assert response.status_code == 200, (response.status_code, response.content[:300])
        return response

    def remote():
        response = session.get(base + path, timeout=30)
        assert response.status_code == 200, (response.status_code, response.text[:300])
        return response

    first = local().json()
    remote()
    timings = {}
    for name, fn in (("in_process", local), ("http", remote)):
        latencies = []
        cpu = Cpu({"bench": [os.getpid()], "postgresql": [postgres_pid()]})
        cpu.start()
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            latencies.append(time.perf_counter() - t0)
        usage = cpu.stop()
        timings[name] = ms_stats(latencies) | {"p99_ms": pct(latencies, 99), "cpu_pct": usage}
        if name == "in_process":  # the server's CPU per answer: Django here, the query in PostgreSQL
            timings[name]["cpu_ms_per_request"] = cpu.ms_per(runs)
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) SELECT ts FROM {GpuSample._meta.db_table} "
                       f"WHERE gpu_id = %s AND ts >= %s AND ts < %s", [gpu.pk, start, end])
        plan = [row[0] for row in cursor.fetchall()]
    return {"path": path, "layout": layout, "points": len(first.get("points") or first.get("k")),
            "source": first["source"],
            "body_bytes": len(remote().content), **timings, "plan": plan}


def start_server(workers: int):
    env = processes.child_env(DATABASE_URL=f"{os.environ['DATABASE_URL']}?application_name={APP_NAME}",
                              AIMATRIX_LOG_LEVEL="WARNING", AIMATRIX_DB_POOL="1")
    return processes.start_gunicorn(APP_NAME, env, LOG_DIR, workers=workers)


def wait_for_load(below: float, max_wait: float, every: float = 30.0) -> dict:
    """Wait (at most max_wait s) until the 1-minute load average is under `below`."""
    started = time.monotonic()
    while os.getloadavg()[0] >= below and time.monotonic() - started < max_wait:
        time.sleep(every)
    return {"below": below, "waited_s": round(time.monotonic() - started), "reached": os.getloadavg()[0] < below,
            "loadavg": [round(v, 2) for v in os.getloadavg()]}


# --- main ----------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench/results/gpu_ingest.json")
    parser.add_argument("--nodes", type=int, default=1250)
    parser.add_argument("--in-process-batches", type=int, default=250)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chart-runs", type=int, default=50)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--chart-only", action="store_true", help="only the 24-hour chart (no ingest figures)")
    parser.add_argument("--skip-chart", action="store_true", help="only the ingest figures")
    parser.add_argument("--max-load", type=float, default=2.5, help="wait for a 1-minute load average under this")
    parser.add_argument("--max-wait", type=float, default=600.0, help="seconds to wait for it at most")
    args = parser.parse_args(argv)

    admin, _, _ = users()
    token = Token.objects.get_or_create(user=admin)[0].key
    clean()
    fleet = [] if args.chart_only else build(args.nodes)
    first = bodies(fleet, dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=2))
    load = wait_for_load(args.max_load, args.max_wait)
    print("load:", json.dumps(load), flush=True)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    info = machine_info()
    result = {"benchmark": "gpu_ingest", "date": now.isoformat(), "machine": info, "code": code_info(),
              "fleet": {"nodes": args.nodes, "gpus": args.nodes * PER_NODE, "gpu_samples_per_batch": PER_NODE * TICKS,
                        "node_samples_per_batch": TICKS, "inventory_per_batch": PER_NODE}, "load_wait": load}
    server = None
    try:
        # Two rounds of the fleet's batches, 2 h and 1 h ago (no duplicates between them).
        if not args.chart_only:
            result["body_bytes_per_batch"] = len(first[0][1])
            in_process(first[:5], None)  # warm-up: imports, caches, partitions
            result["in_process"] = in_process(first[5:5 + args.in_process_batches],
                                              f"{args.out}.profile.txt" if args.profile else None)
            print("in process:", json.dumps(result["in_process"]), flush=True)
        if not args.skip_http and not args.chart_only:
            server, base = start_server(args.workers)
            del first
            second = bodies(fleet, now - dt.timedelta(hours=1))
            over_http(base, second[:4], args.clients, server)  # warm-up: every worker has served
            result["gunicorn"] = {"workers": args.workers, "worker_class": "sync",
                                  **over_http(base, second[4:], args.clients, server)}
            print("gunicorn:", json.dumps(result["gunicorn"]), flush=True)
            del second
        if args.chart_only or not (args.skip_http or args.skip_chart):
            if server is None:
                server, base = start_server(args.workers)
            gpu = chart_gpu(now)
            # columns: what the charts ask for; points: the default layout, for comparison.
            for layout, key in (("columns", "chart_24h_step_5s"), ("points", "chart_24h_step_5s_points")):
                result[key] = chart(gpu, now, token, base, args.chart_runs, layout)
                print(f"chart {layout}:", json.dumps({k: v for k, v in result[key].items() if k != "plan"}),
                      flush=True)
    finally:
        if server:
            server.stop()
        clean()
    result["aims"] = {"ingest_samples_per_s": 50_000, "chart_p50_ms": 20}
    result["loadavg_at_end"] = [round(v, 2) for v in os.getloadavg()]
    result["notes"] = ("clients run on the same 2 cores as gunicorn and PostgreSQL; in_process is the server's "
                       "code without HTTP; samples_per_s_per_2_server_cores divides by the CPU gunicorn and "
                       "PostgreSQL used; dcgm-exporter's default interval is 30 s (10,000 GPUs: 333 samples/s)")
    return write_result(args.out, result)


if __name__ == "__main__":
    raise SystemExit(main())
