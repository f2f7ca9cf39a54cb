"""API benchmark against the production topology: the node list served by gunicorn
(aimatrix/gunicorn_conf.py: preloaded app, sync workers, gc.freeze) with psycopg's pool on
PostgreSQL, over HTTP on 127.0.0.1.

    python -m bench.api --out bench/results/api.json

Needs DATABASE_URL (PostgreSQL, migrated) and REDIS_URL; `scripts/bench.sh` provides both.
At 100, 1,000 and 10,000 nodes (realistic facts, labels, projects, a BMC on a third), as a
superuser with a token, `GET /api/v1/nodes/?limit=100` (the first page of 100):
  - 1 client (sequential) and 20 clients (threads, one HTTP session each): p50/p90/p99 latency
    and requests/s, after a warm-up;
  - SQL statements per request (the same request in process, counted by an execute wrapper);
  - new PostgreSQL sessions per 100 requests after warm-up (pg_stat_database.sessions);
  - a deep page: the keyset (cursor) page at 90 % of the list when the API offers `?cursor=`,
    and the OFFSET page at the same depth for comparison.
Then 200 concurrent clients for 30 s at the largest size: requests, errors, latency, and the
most sessions the server held at once (pg_stat_activity by application_name).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")
django.setup()

import psycopg  # noqa: E402
import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from aimatrix import topology  # noqa: E402
from apps.nodes.models import Node  # noqa: E402
from bench.measure import Cpu, code_info, machine_info, pct, wait_for_quiet, write_result  # noqa: E402
from bench.pages import grow, projects, users  # noqa: E402
from devtools import processes  # noqa: E402
from devtools.queries import count_queries  # noqa: E402

SIZES = (100, 1000, 10000)
FIRST_PAGE = "/api/v1/nodes/?limit=100"
APP_NAME = "bench-api-gunicorn"
LOG_DIR = Path(settings.VAR_DIR) / "logs"


def database_url() -> str:
    return os.environ["DATABASE_URL"]


class Postgres:
    """PostgreSQL's own counters, read on a connection of this benchmark's own."""

    def __init__(self):
        self.conn = psycopg.connect(database_url(), autocommit=True, application_name="bench-api-probe")
        self.lock = threading.Lock()

    def _one(self, sql: str) -> int:
        with self.lock:
            self.conn.execute("SELECT pg_stat_clear_snapshot()")
            return self.conn.execute(sql).fetchone()[0]

    def sessions(self) -> int:
        return self._one("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")

    def server_connections(self) -> int:
        return self._one(f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{APP_NAME}'")

    def max_connections(self) -> int:
        return int(self._one("SHOW max_connections"))


class Client:
    def __init__(self, base: str, token: str):
        self.base, self.session = base, requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def get(self, path: str) -> tuple[float, bool]:
        start = time.perf_counter()
        try:
            response = self.session.get(self.base + path, timeout=60)
            ok = response.status_code == 200 and bool(response.json()["results"])
        except (requests.RequestException, ValueError, KeyError):
            ok = False
        return time.perf_counter() - start, ok


def latency(latencies: list[float], wall: float, errors: int) -> dict:
    return {"requests": len(latencies), "errors": errors, "per_s": round(len(latencies) / wall, 1),
            "p50_ms": pct(latencies, 50), "p90_ms": pct(latencies, 90), "p99_ms": pct(latencies, 99),
            "max_ms": pct(latencies, 100)}


def run_clients(base: str, token: str, path: str, clients: int, per_client: int, pg: Postgres) -> dict:
    wait_for_quiet()
    before = pg.sessions()
    results: list[tuple[float, bool]] = []
    lock = threading.Lock()

    def client_loop(_):
        client, own = Client(base, token), []
        for _ in range(per_client):
            own.append(client.get(path))
        with lock:
            results.extend(own)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client_loop, range(clients)))
    wall = time.perf_counter() - start
    figures = latency([t for t, ok in results if ok], wall, sum(1 for _, ok in results if not ok))
    figures["new_sessions_per_100_requests"] = round(100 * (pg.sessions() - before) / len(results), 2)
    figures["clients"] = clients
    return figures


def interleaved(base: str, token: str, paths: dict[str, str], rounds: int, pg: Postgres) -> dict:
    """One client requesting each path in turn, `rounds` times: pages compared under the same load
    (requests/s of a path = 1 / its mean latency)."""
    wait_for_quiet()
    client = Client(base, token)
    latencies, errors = {name: [] for name in paths}, dict.fromkeys(paths, 0)
    before = pg.sessions()
    for _ in range(rounds):
        for name, path in paths.items():
            seconds, ok = client.get(path)
            if ok:
                latencies[name].append(seconds)
            else:
                errors[name] += 1
    new_sessions = round(100 * (pg.sessions() - before) / (rounds * len(paths)), 2)
    return {name: {**latency(latencies[name], sum(latencies[name]), errors[name]),
                   "new_sessions_per_100_requests": new_sessions} for name in paths}


def queries_per_request(user, path: str) -> int:
    client = APIClient(HTTP_HOST="localhost")
    client.force_authenticate(user)
    client.get(path)
    with count_queries() as queries:
        response = client.get(path)
    assert response.status_code == 200, response.content[:300]
    return queries.count


def deep_cursor_path(base: str, token: str, total: int) -> str | None:
    """The keyset page at 90 % of the list (following `next` links; the first page when the list
    fits on one), or None when the API has no cursor pages (a cursor page has no `count`)."""
    client = Client(base, token)
    path = "/api/v1/nodes/?cursor=&limit=100"
    response = client.session.get(base + path, timeout=60)
    if response.status_code != 200 or "count" in response.json() or "next" not in response.json():
        return None
    for _ in range(int(total * 0.9) // 100):
        next_url = response.json()["next"]
        if not next_url:
            break
        path = next_url[next_url.index("/api/"):]
        response = client.session.get(base + path, timeout=60)
    return path


def flood(base: str, token: str, pg: Postgres, clients: int, seconds: float) -> dict:
    """`clients` threads requesting the first page back to back for `seconds`."""
    wait_for_quiet()
    stop, peak, lock = threading.Event(), [pg.server_connections()], threading.Lock()
    results: list[tuple[float, bool]] = []

    def client_loop(_):
        client, own = Client(base, token), []
        while not stop.is_set():
            own.append(client.get(FIRST_PAGE))
        with lock:
            results.extend(own)

    before = pg.sessions()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client_loop, i) for i in range(clients)]
        while time.perf_counter() - start < seconds:
            peak.append(pg.server_connections())
            time.sleep(0.2)
        stop.set()
        for future in futures:
            future.result()
    wall = time.perf_counter() - start
    figures = latency([t for t, ok in results if ok], wall, sum(1 for _, ok in results if not ok))
    figures.update(clients=clients, seconds=round(wall, 1), max_server_connections=max(peak),
                   new_sessions=pg.sessions() - before, postgres_max_connections=pg.max_connections())
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench/results/api.json")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--flood-clients", type=int, default=200)
    parser.add_argument("--flood-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)

    admin, _, _ = users()
    owned = projects(admin)
    token = Token.objects.get_or_create(user=admin)[0].key
    workers = topology.web_workers()
    env = processes.child_env(DATABASE_URL=f"{database_url()}?application_name={APP_NAME}",
                              AIMATRIX_LOG_LEVEL="WARNING", AIMATRIX_DB_POOL="1")
    server, base = processes.start_gunicorn("bench-api-gunicorn", env, LOG_DIR, workers=workers)
    pg = Postgres()
    rows, flood_figures = [], None
    try:
        cpu = Cpu({"gunicorn": [server.pid], "bench": [os.getpid()]})
        for total in map(int, args.sizes.split(",")):
            grow(total, admin, owned)
            row = {"nodes": Node.objects.count(), "queries_per_request": queries_per_request(admin, FIRST_PAGE)}
            run_clients(base, token, FIRST_PAGE, 4, 10, pg)  # warm-up: every worker has served, pools open
            cpu.start()
            row["first_page_1_client"] = run_clients(base, token, FIRST_PAGE, 1, 200, pg)
            row["first_page_20_clients"] = run_clients(base, token, FIRST_PAGE, 20, 30, pg)
            row["cpu_pct"] = cpu.stop()
            depth = int(row["nodes"] * 0.9)
            paths = {"first_page": FIRST_PAGE, f"offset_{depth}": f"/api/v1/nodes/?limit=100&offset={depth}"}
            deep = deep_cursor_path(base, token, row["nodes"])
            if deep:
                paths[f"cursor_at_{depth}"] = deep
            else:
                row["deep_cursor_page"] = "not measured: the node list API has no ?cursor= pages"
            row["deep_pages_interleaved_1_client"] = interleaved(base, token, paths, 100, pg)
            for name, path in paths.items():
                row["deep_pages_interleaved_1_client"][name]["queries_per_request"] = queries_per_request(admin, path)
            rows.append(row)
            print(f"  {row['nodes']:>6} nodes: {json.dumps({k: v for k, v in row.items() if k != 'nodes'})}",
                  flush=True)
        flood_figures = flood(base, token, pg, args.flood_clients, args.flood_seconds)
        print(f"  {args.flood_clients} clients for {args.flood_seconds:.0f} s: {json.dumps(flood_figures)}", flush=True)
    finally:
        server.stop()
    result = {
        "benchmark": "api",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(), "code": code_info(),
        "server": {"gunicorn_workers": workers, "worker_class": "sync", "db_pool": settings.DATABASES["default"]
                   ["OPTIONS"].get("pool"), "path": FIRST_PAGE},
        "node_list": rows,
        "flood": flood_figures,
        "notes": "HTTP on 127.0.0.1 straight to gunicorn (the nginx front adds one local hop); clients are "
                 "Python threads on the same 2 cores, so requests/s include their CPU; queries per request "
                 "counted in process on the same URL; cpu_pct covers the 1- and 20-client runs",
    }
    return write_result(args.out, result)


if __name__ == "__main__":
    raise SystemExit(main())
