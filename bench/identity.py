"""Identity benchmarks: one-time token redemption and the cost of the permission filter.

    python -m bench.identity --out bench/results/identity.json

Needs DATABASE_URL (PostgreSQL, migrated) and REDIS_URL; `scripts/bench.sh` provides both.
- Redemption: real HTTP against a real daphne (`POST /api/v1/keyvault/redeem/`), one client
  issuing requests back to back, then 20 concurrent clients each on its own keep-alive
  connection; each request redeems a distinct fresh token that delivers a secret. Also 20
  clients racing for one token (exactly one must win).
- Permission filter: `GET /api/v1/projects/?limit=50` in process through DRF's test client, for
  an unrestricted (sre) user and a project-scoped (data-developer) user, at 100, 1,000 and
  10,000 projects (the scoped user is a member of 1 in 100): latency and SQL queries per request.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from apps.keyvault import onetime, services as kv  # noqa: E402
from apps.rbac.models import Membership, Project  # noqa: E402
from bench.measure import write_result  # noqa: E402
from devtools import processes  # noqa: E402
from devtools.queries import count_queries  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = Path(os.environ.get("AIMATRIX_VAR_DIR", ROOT / "var" / "bench" / "app")) / "logs"


def pct(values, p):
    values = sorted(values)
    if not values:
        return None
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return round((values[lo] + (values[hi] - values[lo]) * (k - lo)) * 1000, 2)


def summary(latencies, wall):
    return {"requests": len(latencies), "wall_s": round(wall, 3), "per_s": round(len(latencies) / wall, 1),
            "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95), "p99_ms": pct(latencies, 99),
            "max_ms": pct(latencies, 100)}


def admin_user():
    User = get_user_model()
    user, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_superuser": True, "is_staff": True})
    return user


def issue_tokens(user, secret_name, n):
    return [onetime.issue_token(user, "secret", secret_name, ttl=3600)[1] for _ in range(n)]


def redeem_loop(base_url, tokens, latencies, outcomes):
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    for token in tokens:
        body = json.dumps({"token": token, "timestamp": int(time.time())})
        start = time.perf_counter()
        conn.request("POST", "/api/v1/keyvault/redeem/", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        latencies.append(time.perf_counter() - start)
        outcomes.append(resp.status)
    conn.close()


def bench_redeem(base_url, clients, per_client, user, secret_name):
    batches = [issue_tokens(user, secret_name, per_client) for _ in range(clients)]
    latencies, outcomes = [], []
    threads = [threading.Thread(target=redeem_loop, args=(base_url, b, latencies, outcomes)) for b in batches]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    result = summary(latencies, wall)
    result.update(clients=clients, ok=outcomes.count(200), refused=len(outcomes) - outcomes.count(200))
    return result


def bench_race(base_url, user, secret_name, clients=20):
    token = issue_tokens(user, secret_name, 1)[0]
    latencies, outcomes = [], []
    barrier = threading.Barrier(clients)

    def one():
        barrier.wait()
        redeem_loop(base_url, [token], latencies, outcomes)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"clients": clients, "succeeded": outcomes.count(200), "replayed_409": outcomes.count(409),
            "other": len(outcomes) - outcomes.count(200) - outcomes.count(409)}


def grow_projects(total):
    have = Project.objects.count()
    groups, projects = [], []
    for i in range(have, total):
        groups.append(Group(name=f"project:bench-{i}"))
    Group.objects.bulk_create(groups, batch_size=2000)
    by_name = dict(Group.objects.filter(name__startswith="project:bench-").values_list("name", "pk"))
    for i in range(have, total):
        projects.append(Project(name=f"bench-{i}", group_id=by_name[f"project:bench-{i}"]))
    Project.objects.bulk_create(projects, batch_size=2000)


def scoped_user():
    User = get_user_model()
    user, created = User.objects.get_or_create(username="bench-dev")
    if created:
        user.groups.add(Group.objects.get(name="data-developer"))
    return User.objects.get(pk=user.pk)


def unrestricted_user():
    User = get_user_model()
    user, created = User.objects.get_or_create(username="bench-sre")
    if created:
        user.groups.add(Group.objects.get(name="sre"))
    return User.objects.get(pk=user.pk)


def bench_list(user, repeat=30):
    client = APIClient(HTTP_HOST="localhost")
    client.force_authenticate(user)
    client.get("/api/v1/projects/?limit=50")  # warm up
    with count_queries() as queries:
        resp = client.get("/api/v1/projects/?limit=50")
    assert resp.status_code == 200, resp.content
    latencies = []
    for _ in range(repeat):
        start = time.perf_counter()
        client.get("/api/v1/projects/?limit=50")
        latencies.append(time.perf_counter() - start)
    return {"visible": resp.json()["count"], "queries": queries.count, "p50_ms": pct(latencies, 50),
            "p95_ms": pct(latencies, 95)}


def bench_permission_filter():
    rows = []
    dev, sre = scoped_user(), unrestricted_user()
    for total in (100, 1000, 10000):
        grow_projects(total)
        member_of = Project.objects.filter(name__startswith="bench-").order_by("pk")[::100]
        for project in member_of:
            Membership.objects.get_or_create(project=project, user=dev, defaults={"role": "member"})
        rows.append({"projects": total, "sre": bench_list(sre), "data_developer": bench_list(dev)})
        print(f"  permission filter at {total:>6} projects: {rows[-1]}", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench/results/identity.json")
    parser.add_argument("--single", type=int, default=300, help="redemptions by one client")
    parser.add_argument("--per-client", type=int, default=50, help="redemptions per concurrent client")
    args = parser.parse_args(argv)

    user = admin_user()
    secret_name = "bench-munge-key"
    if not kv.Secret.objects.filter(name=secret_name).exists():
        kv.create_secret(user, name=secret_name, kind="munge_key", value=os.urandom(32).hex())
    env = processes.child_env(AIMATRIX_ANON_RATE="100000000/min", AIMATRIX_LOG_LEVEL="WARNING")
    daphne, base_url = processes.start_daphne("bench-identity-daphne", env, LOG_DIR)
    try:
        print("token redemption over HTTP (daphne):", flush=True)
        single = bench_redeem(base_url, 1, args.single, user, secret_name)
        print(f"  1 client : {single}", flush=True)
        concurrent = bench_redeem(base_url, 20, args.per_client, user, secret_name)
        print(f"  20 clients: {concurrent}", flush=True)
        race = bench_race(base_url, user, secret_name)
        print(f"  20 clients, one token: {race}", flush=True)
    finally:
        daphne.stop()
    print("permission filter, GET /api/v1/projects/?limit=50 in process:", flush=True)
    filter_rows = bench_permission_filter()
    result = {
        "benchmark": "identity",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                    "postgresql": connection.cursor().connection.info.server_version},
        "redeem": {"single_client": single, "concurrent_20": concurrent, "race_one_token_20": race},
        "permission_filter": filter_rows,
        "notes": "redeem latency is client-side round trip over keep-alive HTTP to one daphne process; "
                 "each successful redeem verifies the HMAC, consumes the token with one UPDATE, decrypts "
                 "the secret and writes the redemption and access logs",
    }
    return write_result(args.out, result)


if __name__ == "__main__":
    sys.exit(main())
