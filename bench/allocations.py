"""GPU allocation benchmarks: placement latency on a large fleet, and concurrent requests.

    python -m bench.allocations --out bench/results/allocations.json [--nodes 1250] [--gpus-per-node 8]
        [--existing 5000] [--placements 1000] [--threads 1,4,8,16] [--requests 400]

Needs DATABASE_URL (PostgreSQL, migrated: the exclusion constraint is what is measured under
concurrency); `scripts/bench.sh` provides it. Builds its own fleet (nodes named bench-alloc-*,
3 of 4 with H100s, the rest A100s) and --existing allocations booked at random (node, 6-hour
slot) pairs over the next 30 days (1-8 GPUs each), and removes them at the end.

- Placement: `placement.place()` for random requests (1, 2, 4 or 8 GPUs; any model, H100 or A100;
  a random start in the 30 days; 1-24 h): the queries that pick the GPUs, nothing booked. p50/p99.
- Request: `services.request_allocation()` end to end (quota, placement, booking, events, audit).
- Explain: `placement.explain()` for requests that cannot fit (all GPUs of a node in a slot where
  some are booked): the failing constraint and the earliest start that fits.
- Concurrency: --requests requests spread over T threads (own database connections), all for the
  same 2-hour window on 16 nodes (128 GPUs, fewer than asked for): requests per second, granted
  GPUs (all 128 when the slice fills up) and an SQL check that no GPU is booked twice.

Standalone: does not import pytest or the test suite.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import threading
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.allocations import placement, services  # noqa: E402
from apps.allocations.models import Allocation, AllocationGpu  # noqa: E402
from apps.core.errors import ServiceError  # noqa: E402
from apps.gpus.models import Gpu  # noqa: E402
from apps.nodes.models import Node  # noqa: E402
from apps.rbac.models import Project  # noqa: E402

from .measure import code_info, machine_info, pct, write_result  # noqa: E402

PREFIX = "bench-alloc"
SLOT = dt.timedelta(hours=6)
HORIZON_SLOTS = 120  # 30 days of 6-hour slots
OVERLAPS = """SELECT count(*) FROM allocations_allocationgpu a JOIN allocations_allocationgpu b
  ON a.gpu_id = b.gpu_id AND a.id < b.id AND a.holds AND b.holds AND a.start < b."end" AND b.start < a."end\""""


def cleanup():
    projects = Project.objects.filter(name__startswith=PREFIX)
    Allocation.objects.filter(project__in=projects).delete()
    Node.objects.filter(name__startswith=PREFIX).delete()
    groups = list(projects.values_list("group_id", flat=True))
    projects.delete()
    Group.objects.filter(pk__in=groups).delete()
    get_user_model().objects.filter(username=PREFIX).delete()


def build(nodes: int, per_node: int, existing: int, rng: random.Random, t0):
    user = get_user_model().objects.create_user(username=PREFIX, is_superuser=True, is_staff=True)
    project = Project.objects.create(name=PREFIX, group=Group.objects.create(name=f"project:{PREFIX}"))
    made = Node.objects.bulk_create([Node(name=f"{PREFIX}-{i:05d}", address=f"10.{200 + i // 65536}.{i // 256 % 256}.{i % 256}")
                                     for i in range(nodes)])
    Gpu.objects.bulk_create([
        Gpu(node=node, index=k, uuid=f"GPU-{PREFIX}-{n}-{k}", memory_total_mib=81559 if n % 4 else 40960,
            model="NVIDIA H100 80GB HBM3" if n % 4 else "NVIDIA A100-SXM4-40GB")
        for n, node in enumerate(made) for k in range(per_node)], batch_size=5000)
    gpus = {}
    for gpu_id, node_id, index in Gpu.objects.filter(node__in=made).values_list("pk", "node_id", "index"):
        gpus[(node_id, index)] = gpu_id
    pairs = rng.sample([(n, s) for n in range(nodes) for s in range(HORIZON_SLOTS)], existing)
    allocations = []
    for n, s in pairs:
        start = t0 + s * SLOT
        allocations.append(Allocation(project=project, requester=user, gpu_count=rng.choice((1, 2, 4, 8)),
                                      start=start, end=start + SLOT, state="approved", purpose="bench",
                                      state_changed_at=t0))
    allocations = Allocation.objects.bulk_create(allocations, batch_size=2000)
    rows = [AllocationGpu(allocation=a, gpu_id=gpus[(made[n].pk, k)], start=a.start, end=a.end)
            for a, (n, _) in zip(allocations, pairs) for k in range(min(a.gpu_count, per_node))]
    AllocationGpu.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE allocations_allocationgpu; ANALYZE gpus_gpu; ANALYZE allocations_allocation")
    busy = [(made[n].pk, t0 + s * SLOT) for n, s in pairs]  # (node, a booked slot): requests that cannot fit
    return user, project, len(rows), busy, made


def random_request(rng, t0, **extra) -> placement.Request:
    start = t0 + dt.timedelta(minutes=rng.randrange(0, HORIZON_SLOTS * 360, 15))
    return placement.Request(gpu_count=rng.choice((1, 2, 4, 8)), start=start,
                             end=start + dt.timedelta(hours=rng.randint(1, 24)),
                             gpu_model=rng.choice(("", "H100", "A100")), **extra)


def timed(fn, n):
    out = []
    for _ in range(n):
        began = time.perf_counter()
        fn()
        out.append(time.perf_counter() - began)
    return {"n": n, "p50_ms": pct(out, 50), "p95_ms": pct(out, 95), "p99_ms": pct(out, 99), "max_ms": pct(out, 100)}


def concurrent(user, project, threads: int, requests: int, t0, nodes) -> dict:
    """`requests` one-to-four-GPU requests, `threads` at a time, for one window on `nodes` (fewer
    GPUs than asked for), a fresh window each round so rounds do not see each other's bookings."""
    start = t0 + dt.timedelta(days=40 + threads)  # past the pre-booked horizon: a clean window
    end = start + dt.timedelta(hours=2)
    rng = random.Random(threads)
    sizes = [rng.choice((1, 2, 4)) for _ in range(requests)]
    lock, granted, refused, errors, reasons = threading.Lock(), [], [0], [], {}
    queue = list(sizes)

    def worker():
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    size = queue.pop()
                try:
                    allocation = services.request_allocation(user, project=project, gpu_count=size, start=start,
                                                             end=end, spread_allowed=True, nodes=nodes)
                    with lock:
                        granted.append((allocation.pk, size))
                except ServiceError as exc:
                    with lock:
                        refused[0] += 1
                        reasons[exc.field or "detail"] = exc.message
        except Exception as exc:  # noqa: BLE001  (reported, not hidden)
            errors.append(repr(exc))
        finally:
            connections.close_all()

    began = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - began
    capacity = Gpu.objects.filter(node__in=nodes).count()
    with connection.cursor() as cursor:
        cursor.execute(OVERLAPS)
        overlaps = cursor.fetchone()[0]
    return {"threads": threads, "requests": requests, "wall_s": round(wall, 3),
            "requests_per_s": round(requests / wall, 1), "granted": len(granted),
            "granted_gpus": sum(s for _, s in granted), "capacity_gpus": capacity, "refused": refused[0], "refusals": reasons,
            "errors": errors[:5], "overlapping_bookings": overlaps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/allocations.json")
    parser.add_argument("--nodes", type=int, default=1250)
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--existing", type=int, default=5000)
    parser.add_argument("--placements", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--threads", default="1,4,8,16")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("bench.allocations needs PostgreSQL (DATABASE_URL)")
    rng = random.Random(42)
    t0 = timezone.now().replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    cleanup()
    try:
        began = time.perf_counter()
        user, project, booked, busy, made = build(args.nodes, args.gpus_per_node, args.existing, rng, t0)
        build_s = time.perf_counter() - began
        placed = [0]

        def place_one():
            placed[0] += bool(placement.place(random_request(rng, t0)))
        place = timed(place_one, args.placements)
        place["fitted"] = placed[0]

        def explain_one():
            node_id, start = rng.choice(busy)  # all of that node's GPUs, in a slot where some are booked
            outcome = placement.explain(placement.Request(gpu_count=args.gpus_per_node, start=start,
                                                          end=start + dt.timedelta(hours=1), node_ids=(node_id,)))
            assert outcome.field == "start", outcome
        explain = timed(explain_one, max(50, args.placements // 10))
        request = timed(lambda: services.request_allocation(
            user, project=project, gpu_count=rng.choice((1, 2, 4)), start=t0 + dt.timedelta(days=35),
            end=t0 + dt.timedelta(days=35, hours=2), spread_allowed=True), 200)
        # Contention: the A100 nodes among the first 64 (16 nodes, 128 GPUs) for every round's window.
        slice_ = [node for n, node in enumerate(made[:64]) if n % 4 == 0]
        rounds = [concurrent(user, project, int(t), args.requests, t0, slice_) for t in args.threads.split(",")]
        result = {
            "fleet": {"nodes": args.nodes, "gpus": args.nodes * args.gpus_per_node, "existing_allocations": args.existing,
                      "existing_bookings": booked, "build_s": round(build_s, 1)},
            "placement": place, "explain_no_fit": explain, "request_end_to_end": request,
            "concurrent": rounds, "aim": {"placement_p50_ms": 5, "placement_p99_ms": 50},
            "code": code_info(), "machine": machine_info()}
    finally:
        cleanup()
    return write_result(args.out, result)


if __name__ == "__main__":
    raise SystemExit(main())
