"""Page benchmark: server render time of the node list at 1,000 and 10,000 nodes.

    python -m bench.pages --out bench/results/pages.json

Needs DATABASE_URL (PostgreSQL, migrated) and REDIS_URL; `scripts/bench.sh` provides both.
In process through Django's test client (the whole request: middleware, session, permission
filter, filter form, django-tables2, templates; no network), `GET /nodes/` with a page of 50:
unsorted, sorted by last seen (descending), filtered (state + a search term), and the CSV export
of the whole list; as an operator (sre: every node) and as a project-scoped engineer (member of
the project that holds a tenth of the nodes). Nodes carry realistic facts (CPU, memory, disks,
NICs, GPUs), labels, a project, and a third of them a Redfish BMC. Latency p50/p95 over 30
requests after one warm-up, and the SQL statements per request.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.keyvault import services as kv  # noqa: E402
from apps.keyvault.models import Secret  # noqa: E402
from apps.nodes.models import Bmc, Node, NodeState  # noqa: E402
from apps.rbac import services as rbac  # noqa: E402
from apps.rbac.models import Membership, Project  # noqa: E402
from bench.measure import code_info, machine_info, pct, write_result  # noqa: E402
from devtools.queries import count_queries  # noqa: E402

SIZES = (1000, 10000)
REPEAT = 30
CASES = {
    "page of 50": "/nodes/",
    "sorted by last seen": "/nodes/?sort=-last_seen",
    "filtered": "/nodes/?state=ready&q=gpu-1",
}


def facts(i: int) -> dict:
    return {"cpu_model": "AMD EPYC 9654", "cpu_sockets": 2, "cpu_cores": 192, "cpu_threads": 384,
            "memory_bytes": 1536 * 2**30, "gpu_count": 8, "gpu_model": "NVIDIA H100 80GB HBM3",
            "disks": [{"name": f"nvme{d}n1", "size_bytes": 3_840_000_000_000} for d in range(4)],
            "nics": [{"name": "eth0", "addresses": [f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"]}]}


def bmc_secret(admin) -> Secret:
    found = Secret.objects.filter(name="bench-pages-bmc").first()
    return found or kv.create_secret(admin, name="bench-pages-bmc", kind="bmc_credentials", value="admin:bench-pw")


def grow(total: int, admin, projects: list[Project]) -> None:
    have = Node.objects.filter(name__startswith="gpu-").count()
    now = timezone.now()
    states = [NodeState.READY] * 8 + [NodeState.UNREACHABLE, NodeState.NEW]
    nodes = [Node(name=f"gpu-{i:05d}", address=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                  labels=["h100", f"rack-{i // 40:03d}"], project=projects[i % len(projects)],
                  state=states[i % len(states)], facts=facts(i),
                  last_seen=now - dt.timedelta(seconds=random.randint(0, 86400)))
             for i in range(have, total)]
    Node.objects.bulk_create(nodes, batch_size=2000)
    created = Node.objects.filter(name__startswith="gpu-", bmc__isnull=True).order_by("pk")
    credential = bmc_secret(admin)
    Bmc.objects.bulk_create([Bmc(node=node, driver="redfish", address=f"https://10.200.{n // 256 % 256}.{n % 256}",
                                 credential=credential, power_state="on") for n, node in enumerate(created) if n % 3 == 0],
                            batch_size=2000)


def users():
    User = get_user_model()
    sre, _ = User.objects.get_or_create(username="bench-page-sre")
    sre.groups.add(Group.objects.get(name="sre"))
    eng, _ = User.objects.get_or_create(username="bench-page-engineer")
    eng.groups.add(Group.objects.get(name="engineer"))
    admin, _ = User.objects.get_or_create(username="bench-page-admin", defaults={"is_superuser": True,
                                                                                   "is_staff": True})
    return admin, User.objects.get(pk=sre.pk), User.objects.get(pk=eng.pk)


def projects(admin) -> list[Project]:
    found = list(Project.objects.filter(name__startswith="bench-pages-").order_by("name"))
    for i in range(len(found), 10):
        found.append(rbac.create_project(admin, f"bench-pages-{i}"))
    return found


def measure(user, url: str) -> dict:
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    response = client.get(url)  # warm up (templates, first queries)
    assert response.status_code == 200, (url, response.status_code)
    with count_queries() as queries:
        client.get(url)
    latencies = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        client.get(url)
        latencies.append(time.perf_counter() - start)
    return {"p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95), "queries": queries.count}


def measure_export(user) -> dict:
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    start = time.perf_counter()
    response = client.get("/nodes/?export=csv")
    body = b"".join(response.streaming_content)
    return {"seconds": round(time.perf_counter() - start, 3), "rows": body.count(b"\n") - 1}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench/results/pages.json")
    args = parser.parse_args(argv)
    admin, sre, eng = users()
    owned = projects(admin)
    Membership.objects.get_or_create(project=owned[0], user=eng, defaults={"role": "member"})
    rows = []
    for total in SIZES:
        grow(total, admin, owned)
        row = {"nodes": Node.objects.count(), "cases": {}}
        for label, url in CASES.items():
            row["cases"][label] = {"sre": measure(sre, url), "engineer (one project)": measure(eng, url)}
            print(f"  {total:>6} nodes, {label}: {row['cases'][label]}", flush=True)
        row["csv_export_all_sre"] = measure_export(sre)
        print(f"  {total:>6} nodes, CSV export: {row['csv_export_all_sre']}", flush=True)
        rows.append(row)
    result = {
        "benchmark": "pages",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(), "code": code_info(),
        "node_list": rows,
        "notes": "server-side render time in process (Django test client: middleware, session, permission "
                 "filter, filters, django-tables2, templates); no network or browser time",
    }
    return write_result(args.out, result)


if __name__ == "__main__":
    raise SystemExit(main())
