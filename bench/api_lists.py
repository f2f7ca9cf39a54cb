"""API list benchmark, in process: what a page of the lean lists costs deep in a large list.

    python -m bench.api_lists --out bench/results/api_lists.json

Needs DATABASE_URL (PostgreSQL, migrated) and REDIS_URL; `scripts/bench.sh` provides both.
Through DRF's APIClient (the whole request: middleware, authentication, permission filter,
filters, pagination, serializers, JSON rendering; no network, no server process), as a superuser
and as an operator (sre role: group permissions, the permission filter applies):

- 10,000 nodes (realistic facts, labels, a project, a BMC with a credential and a host key each):
  the first page of 100 (limit/offset, with its COUNT), the keyset page at 90 % (`?cursor=`,
  reached by following `next`), the OFFSET page at 90 % (`?offset=9000`), brief rows, two fields,
  and the list with `?expand=host_keys,bmc,facts` (what every row cost before lists were lean: host
  keys prefetched, the BMC and its credential joined, the facts read).
- a job with 100,000 events: the first and the 90 % page of 1,000 events by cursor, and the same
  page read with `?after=`.

Latency p50/p95 over REPEAT requests after one warm-up, the SQL statements per request, and the
response size. Standalone: does not import pytest or the test suite.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from apps.jobs.models import Job, JobEvent, JobStatus  # noqa: E402
from apps.keyvault import services as kv  # noqa: E402
from apps.keyvault.models import Secret  # noqa: E402
from apps.nodes.models import Bmc, HostKey, Node  # noqa: E402
from apps.rbac import services as rbac  # noqa: E402
from apps.rbac.models import Project  # noqa: E402
from bench.measure import code_info, machine_info, pct  # noqa: E402
from devtools.queries import count_queries  # noqa: E402

NODES = 10_000
EVENTS = 100_000
REPEAT = 30
PREFIX = "bench-lists"


def facts(i: int) -> dict:
    return {"cpu_model": "AMD EPYC 9654", "cpu_sockets": 2, "cpu_cores": 192, "memory_bytes": 1536 * 2**30,
            "gpu_count": 8, "gpu_model": "NVIDIA H100 80GB HBM3",
            "disks": [{"name": f"nvme{d}n1", "size_bytes": 3_840_000_000_000} for d in range(4)],
            "nics": [{"name": "eth0", "addresses": [f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"]}]}


def users():
    model = get_user_model()
    admin = model.objects.filter(username=f"{PREFIX}-admin").first() or model.objects.create_superuser(
        f"{PREFIX}-admin", password="bench-Correct-Horse-1")
    sre = model.objects.filter(username=f"{PREFIX}-sre").first()
    if sre is None:
        sre = model.objects.create_user(f"{PREFIX}-sre", password="bench-Correct-Horse-1")
        sre.groups.add(Group.objects.get(name="sre"))
    return admin, model.objects.get(pk=sre.pk)


def fleet(admin) -> None:
    """NODES nodes named {PREFIX}-00000..; created once (kept with BENCH_KEEP_DB=1)."""
    have = Node.objects.filter(name__startswith=PREFIX).count()
    if have >= NODES:
        return
    project = Project.objects.filter(name=PREFIX).first() or rbac.create_project(admin, PREFIX, owner=admin)
    secret = Secret.objects.filter(name=f"{PREFIX}-bmc").first() or kv.create_secret(
        admin, name=f"{PREFIX}-bmc", kind="bmc_credentials", value="admin:bench-pw")
    now = timezone.now()
    for start in range(have, NODES, 2000):
        made = Node.objects.bulk_create([
            Node(name=f"{PREFIX}-{i:05d}", address=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                 labels=["gpu", f"rack-{i % 40}"], project=project, facts=facts(i), last_seen=now)
            for i in range(start, min(start + 2000, NODES))])
        Bmc.objects.bulk_create([Bmc(node=n, driver="redfish", address=f"https://10.200.{k // 256}.{k % 256}",
                                     credential=secret, power_state="on") for k, n in enumerate(made)])
        HostKey.objects.bulk_create([HostKey(node=n, key_type="ssh-ed25519", public_key="AAAA" + "x" * 64,
                                             fingerprint=f"SHA256:{n.name}", state="trusted") for n in made])


def long_job(admin) -> Job:
    job = Job.objects.filter(kind="core.pulse", target_repr=PREFIX).first()
    if job is None:
        job = Job.objects.create(kind="core.pulse", status=JobStatus.SUCCEEDED, requester=admin, target_repr=PREFIX)
    have = JobEvent.objects.filter(job=job).count()
    now = timezone.now()
    for start in range(have + 1, EVENTS + 1, 10_000):
        JobEvent.objects.bulk_create([
            JobEvent(job=job, seq=s, timestamp=now, kind="log", host=f"node-{s % 500:03d}",
                     message=f"step {s}: copied shard {s % 977} of the model to the node", data={"shard": s % 977})
            for s in range(start, min(start + 10_000, EVENTS + 1))])
    return job


def follow(client, path: str, pages: int) -> str:
    """The path of the page reached after following `next` `pages` times."""
    for _ in range(pages):
        body = client.get(path).json()
        path = body["next"][body["next"].index("/api/"):]
    return path


def measure(client, path: str) -> dict:
    response = client.get(path)  # warm-up: permission and content type caches, plans
    assert response.status_code == 200, (path, response.status_code, response.content[:300])
    with count_queries() as queries:
        client.get(path)
    took = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        response = client.get(path)
        took.append(time.perf_counter() - start)
    return {"path": path, "p50_ms": pct(took, 50), "p95_ms": pct(took, 95), "queries": queries.count,
            "bytes": len(response.content)}


def node_cases(client) -> dict:
    deep = int(NODES * 0.9)
    return {
        "first page of 100 (limit/offset)": measure(client, "/api/v1/nodes/?limit=100"),
        "first page of 100 (cursor)": measure(client, "/api/v1/nodes/?cursor=&limit=100"),
        "page at 90 % by cursor": measure(client, follow(client, "/api/v1/nodes/?cursor=&limit=100", deep // 100)),
        "page at 90 % by offset": measure(client, f"/api/v1/nodes/?limit=100&offset={deep}"),
        "brief, 100": measure(client, "/api/v1/nodes/?limit=100&brief=1"),
        "fields=id,name, 100": measure(client, "/api/v1/nodes/?limit=100&fields=id,name"),
        "expand=host_keys,bmc,facts, 100 (the pre-lean row)": measure(
            client, "/api/v1/nodes/?limit=100&expand=host_keys,bmc,facts"),
        "limit=1000 (the maximum)": measure(client, "/api/v1/nodes/?limit=1000"),
    }


def event_cases(client, job) -> dict:
    base = f"/api/v1/jobs/{job.pk}/events/"
    deep = int(EVENTS * 0.9)
    return {
        "first page of 1000 (cursor)": measure(client, f"{base}?cursor=&limit=1000"),
        "page at 90 % by cursor": measure(client, follow(client, f"{base}?cursor=&limit=1000", deep // 1000)),
        "page at 90 % by after=": measure(client, f"{base}?after={deep}&limit=1000"),
        "first page of 100 (cursor)": measure(client, f"{base}?cursor=&limit=100"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    admin, sre = users()
    started = time.perf_counter()
    fleet(admin)
    job = long_job(admin)
    others = Node.objects.exclude(name__startswith=PREFIX).count()
    results = {"benchmark": "api_lists", "taken_at": dt.datetime.now(dt.timezone.utc).isoformat(),
               "nodes": NODES + others, "job_events": EVENTS, "repeat": REPEAT,
               "setup_s": round(time.perf_counter() - started, 1), "code": code_info(), "machine": machine_info(),
               "load_before": os.getloadavg(), "cases": {}}
    for label, user in (("superuser", admin), ("sre", sre)):
        client = APIClient(HTTP_HOST="localhost")
        client.force_authenticate(user)
        results["cases"][label] = {"nodes": node_cases(client), "job events": event_cases(client, job)}
    results["load_after"] = os.getloadavg()
    text = json.dumps(results, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
