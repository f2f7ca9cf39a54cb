"""Slurm cluster benchmarks against a real lab cluster: discovery and refresh, queue sync of
1,000 and 10,000 jobs, submit latency.

    python -m bench.clusters --out bench/results/clusters.json [--hosts 12] [--jobs 1000,10000]

Needs root (the lab: network namespaces, users, Slurm with munge, MariaDB and slurmdbd),
DATABASE_URL (PostgreSQL, migrated) and REDIS_URL; `scripts/bench.sh` provides the last two. It
brings up its own lab with devtools.lab (unique directory, bridge, subnet and ports; --hosts sshd
hosts, each with a slurmd in its network namespace and simulated GPUs; no external cluster) and
tears it down at the end.

- Discovery: the cluster registered in the portal (controller = the first lab host, reached over
  real SSH with strict host keys and the vault's key), then `services.discover()` (version,
  configuration, nodes, partitions, queue: five commands on the controller, stored): the first
  run (every row new) and --refreshes more (nothing changed): wall time each, SQL statements.
- Queue sync: held job arrays of 1,000 tasks submitted as the lab user until the queue holds N
  jobs (`squeue -r` lists each task: N rows), then `jobs_sync.sync_cluster()` timed: the first
  sync (N new rows), a second one (nothing changed), with the time split into the SSH command
  (squeue on the controller), parsing, and the database upsert, and the SQL statements counted.
  The arrays are cancelled afterwards and one more sync settles them.
- Submit: `submit.submit_job()` (portal checks, `sbatch --parsable` with the script on stdin as
  the mapped user over SSH, the row and its audit entry) --submits times, held so nothing runs.

Standalone: does not import pytest or the test suite.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from apps.clusters import connection as slurm_connection  # noqa: E402
from apps.clusters import jobs_sync, services, submit  # noqa: E402
from apps.clusters.models import Cluster, ClusterKind, SlurmJob, SlurmUser  # noqa: E402
from apps.nodes.management.commands.lab_register import lab_networks, publish_networks  # noqa: E402
from apps.nodes.models import Node  # noqa: E402
from devtools import lab  # noqa: E402

from .lab_fleet import register_hosts, superuser
from .measure import code_info, machine_info, ms_stats, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("AIMATRIX_VAR_DIR", ROOT / "var" / "bench" / "app")).parent
ARRAY = 1000  # tasks per held array (Slurm's default MaxArraySize is 1001)
PREFIX = "bench-clusters"


def register(inv: lab.Inventory):
    """The lab's hosts as portal nodes and its managed cluster as a portal cluster (external kind:
    the benchmark never rewrites its configuration)."""
    admin = superuser(PREFIX)
    by_name = register_hosts(admin, inv, PREFIX)
    managed = inv.slurm.managed
    cluster = Cluster.objects.create(name=PREFIX, kind=ClusterKind.EXTERNAL,
                                     controller=by_name[managed.controller_host])
    SlurmUser.objects.create(user=admin, username=inv.hosts[0].user)
    return admin, cluster, managed


def clean() -> None:
    Cluster.objects.filter(name=PREFIX).delete()
    Node.objects.filter(name__startswith="lab-").delete()
    get_user_model().objects.filter(username=PREFIX).delete()
    from apps.keyvault.models import Secret
    Secret.objects.filter(name__startswith=PREFIX).delete()


def timed(func):
    t0 = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        value = func()
    return time.perf_counter() - t0, len(queries), value


def bench_discovery(cluster: Cluster, refreshes: int) -> dict:
    first_s, first_q, changes = timed(lambda: services.discover(cluster, purpose="bench discovery"))
    rounds = [timed(lambda: services.discover(cluster, purpose="bench refresh")) for _ in range(refreshes)]
    cluster.refresh_from_db()
    return {"nodes": cluster.summary.get("nodes"), "partitions": cluster.partitions.count(),
            "first": {"s": round(first_s, 3), "sql": first_q, "changes": changes},
            "refresh": {**ms_stats([r[0] for r in rounds]), "sql": rounds[-1][1] if rounds else None}}


def controller_run(cluster: Cluster, argv, timeout=120):
    return slurm_connection.runner_for(cluster.controller, purpose="bench")(argv, timeout=timeout)


def fill_queue(cluster: Cluster, user: str, jobs: int, partition: str) -> list[str]:
    """Held arrays of ARRAY tasks as `user` until `jobs` tasks wait in the queue."""
    ids = []
    for _ in range(jobs // ARRAY):
        result = controller_run(cluster, ["sudo", "-n", "-u", user, "--", "sbatch", "--parsable", "--hold",
                                          f"--array=0-{ARRAY - 1}", f"--partition={partition}",
                                          "--job-name=bench-array", "--output=/dev/null",
                                          "--chdir=/tmp", "--wrap=true"])
        if result.exit_status != 0:
            raise RuntimeError(f"sbatch failed: {result.stderr.strip()[:300]}")
        ids.append(result.stdout.strip().split(";")[0])
    return ids


def sync_phases(cluster: Cluster) -> dict:
    """One sync, timed as a whole and split into its command, parsing and database parts."""
    client = jobs_sync.sync_client(cluster)
    t0 = time.perf_counter()
    result = client.command(["squeue", "-h", "-r", "-o", "%i"], large=True)
    ssh_s = time.perf_counter() - t0
    del result
    total_s, sql, outcome = timed(lambda: jobs_sync.sync_cluster(cluster))
    return {"s": round(total_s, 3), "sql": sql, "ssh_probe_s": round(ssh_s, 3), "result": outcome}


def bench_queue(cluster: Cluster, user: str, partition: str, sizes: list[int]) -> dict:
    """The queue grows to each size in turn (more held arrays; nothing is cancelled in between: a
    cancelled array becomes one job record per task and keeps slurmctld busy for minutes on 2
    cores); before each size the portal forgets the rows, so the first sync stores every job."""
    out, arrays, queued = {}, [], 0
    try:
        for size in sorted(sizes):
            arrays += fill_queue(cluster, user, size - queued, partition)
            queued = size
            SlurmJob.objects.filter(cluster=cluster).delete()
            first = sync_phases(cluster)
            second = sync_phases(cluster)
            rows = SlurmJob.objects.filter(cluster=cluster).count()
            out[str(size)] = {"rows": rows, "first_sync": first, "unchanged_sync": second}
            print(f"queue {size}: first {first['s']} s ({first['sql']} SQL), unchanged {second['s']} s, rows {rows}",
                  flush=True)
    finally:
        if arrays:
            controller_run(cluster, ["sudo", "-n", "scancel", *arrays], timeout=300)
    return out


def bench_submit(admin, cluster: Cluster, partition: str, n: int) -> dict:
    latencies, ids = [], []
    script = "#!/bin/sh\nsleep 600\n"
    for i in range(n):
        request = submit.JobRequest(script=script, name=f"bench-submit-{i}", partition=partition,
                                    time_limit_min=10, work_dir="/tmp")
        t0 = time.perf_counter()
        job = submit.submit_job(admin, cluster, request)
        latencies.append(time.perf_counter() - t0)
        ids.append(job.job_id)
    controller_run(cluster, ["sudo", "-n", "scancel", *ids])
    return ms_stats(latencies)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench/results/clusters.json")
    parser.add_argument("--hosts", type=int, default=12)
    parser.add_argument("--jobs", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 10000])
    parser.add_argument("--refreshes", type=int, default=10)
    parser.add_argument("--submits", type=int, default=20)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.clusters: SKIPPED, the lab needs root (network namespaces, users); nothing written",
              file=sys.stderr)
        return 0
    settings = lab.unique_settings(VAR_DIR / "labs", hosts=args.hosts, slurm_external=0)
    result = {"benchmark": "clusters", "machine": machine_info(), "code": code_info(), "hosts": args.hosts}
    published = None
    try:
        t0 = time.perf_counter()
        inv = lab.lab_up(("hosts", "slurm"), timeout=300, **settings)
        result["lab_up_s"] = round(time.perf_counter() - t0, 1)
        print(f"lab up in {result['lab_up_s']} s ({len(inv.hosts)} hosts)", flush=True)
        published = publish_networks(lab_networks(inv), name=f"bench-clusters-{os.getpid()}")
        clean()
        admin, cluster, managed = register(inv)
        result["discovery"] = bench_discovery(cluster, args.refreshes)
        print("discovery:", result["discovery"], flush=True)
        result["submit"] = bench_submit(admin, cluster, managed.partition, args.submits)
        print("submit:", result["submit"], flush=True)
        result["queue_sync"] = bench_queue(cluster, inv.hosts[0].user, managed.partition, args.jobs)
    finally:
        clean()
        if published:
            published.unlink(missing_ok=True)
        lab.lab_down(("hosts", "slurm"), **settings)
    result["aims"] = {"queue_sync_10000_s": 2.0}
    result["notes"] = ("2 cores shared by the lab's slurmctld, slurmd x hosts, sshd, PostgreSQL and this process; "
                       "each sync reads the queue over one SSH command on a pooled connection")
    return write_result(args.out, result)


if __name__ == "__main__":
    raise SystemExit(main())
