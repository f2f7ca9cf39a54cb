"""Salt benchmarks against a real lab (hosts in network namespaces, Slurm with munge, salt-master
with salt-api and one minion per host): ping fan-out over every minion, the batch minion
install of every lab host, and scaling 3 nodes into the managed cluster end to end.

    python -m bench.salt --out bench/results/salt.json [--hosts 6] [--pings 100] [--scale 3]

Needs root (the lab), DATABASE_URL (PostgreSQL, migrated) and REDIS_URL; `scripts/bench.sh`
provides the last two. It brings up its own lab with devtools.lab (unique directory, bridge,
subnet and ports; no external cluster) and tears it down at the end.

- Ping fan-out: every lab minion's key accepted by its fingerprint, then --pings rounds of
  test.ping over all of them through salt-api (the portal's client, as a Salt run uses it):
  wall time per round (p50/p95/p99), every minion answering each round.
- Batch install: the portal (daphne, reachable from the lab's namespaces) and the job
  `salt.batch_install` run in this process over every lab host, as a second minion per host
  (`<host>-b`, the lab's shared salt-minion: source `shared`): wall time of the whole job, and
  per step the median over hosts (connect, sudo, os, install, enroll, accept).
- Scale: --scale hosts taken out of the managed cluster (configuration applied, slurmd
  stopped), then `clusters.scale` on them (state.apply slurm.node through salt-api, the
  configuration applied, slurmctld told, wait until idle): wall time of the job, and its steps.

Standalone: does not import pytest or the test suite.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")
# The jobs run here as a Celery worker runs them: without the connection pool (Procfile), one
# connection per fan-out thread.
os.environ["AIMATRIX_DB_POOL"] = "0"
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402

from apps.clusters import config_jobs, lab_scaling, managed, scaling, services  # noqa: E402
from apps.clusters.management.commands.lab_register_clusters import managed_fields  # noqa: E402
from apps.clusters.models import Cluster, ClusterKind  # noqa: E402
from apps.jobs.execution import execute  # noqa: E402
from apps.jobs.models import Job  # noqa: E402
from apps.nodes import lab_salt, remote, salt_install_job, salt_services  # noqa: E402
from apps.nodes.management.commands.lab_register import lab_networks, publish_networks  # noqa: E402
from apps.nodes.models import Node  # noqa: E402
from devtools import lab  # noqa: E402
from devtools import processes  # noqa: E402

from .lab_fleet import register_hosts, superuser
from .measure import code_info, machine_info, ms_stats, pct, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("AIMATRIX_VAR_DIR", ROOT / "var" / "bench" / "app")).parent
PREFIX = "bench-salt"
STEPS = ("connect", "sudo", "os", "install", "enroll", "accept")


def register(inv: lab.Inventory):
    admin = superuser(PREFIX)
    by_name = register_hosts(admin, inv, PREFIX)
    master = lab_salt.register_master(admin, inv)
    return admin, by_name, master


def clean() -> None:
    from apps.keyvault.models import Secret
    from apps.nodes.salt_models import SaltMaster

    Cluster.objects.filter(name__in=[PREFIX]).delete()
    SaltMaster.objects.filter(name=lab_salt.MASTER_NAME).delete()
    Node.objects.filter(name__startswith="lab-").delete()
    get_user_model().objects.filter(username=PREFIX).delete()
    Secret.objects.filter(name__in=[f"{PREFIX}-ssh", lab_salt.CREDENTIAL_NAME, lab_scaling.MUNGE_SECRET]).delete()


def run_job(job) -> Job:
    t0 = time.perf_counter()
    execute(job.pk)
    job = Job.objects.get(pk=job.pk)
    job.wall_s = round(time.perf_counter() - t0, 2)
    if job.status != "succeeded":
        raise RuntimeError(f"{job.kind} #{job.pk} {job.status}: {job.error}")
    return job


def step_times(job) -> list[dict]:
    """The job's steps and how long each took (from one step event to the next)."""
    events = list(job.events.filter(kind="step").order_by("seq").values_list("message", "timestamp"))
    ends = [ts for _, ts in events[1:]] + [job.finished_at]
    return [{"step": name, "s": round((end - ts).total_seconds(), 2)} for (name, ts), end in zip(events, ends)]


def accept_all(admin, inv, master) -> list[str]:
    api = salt_services.client_for(master, actor=admin, purpose="bench", role="admin")
    salt_services.sync_keys(master, api)
    ids = [m.id for m in inv.salt.minions]
    for minion in master.minions.filter(minion_id__in=ids):
        salt_services.accept_key(admin, minion, inv.salt.minion(minion.minion_id).key_fingerprint)
    for minion_id in ids:
        api.wait_for_ping(minion_id, timeout=60)
    return ids


def bench_ping(admin, master, ids: list[str], rounds: int) -> dict:
    api = salt_services.client_for(master, actor=admin, purpose="bench ping", role="admin")
    api.ping(ids, tgt_type="list")  # warm: login token, connections
    latencies, missed = [], 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        result = api.ping(ids, tgt_type="list")
        latencies.append(time.perf_counter() - t0)
        missed += len(result.missing) + sum(1 for r in result.returns.values() if r.ret is not True)
    return {"minions": len(ids), "rounds": rounds, "missed": missed,
            "round_ms": {**ms_stats(latencies), "p99_ms": pct(latencies, 99), "max_ms": pct(latencies, 100)}}


def bench_batch_install(admin, inv, master, node_rows, portal_url: str) -> dict:
    tag = hashlib.sha256(str(inv.lab_dir).encode()).hexdigest()[:6]
    base = Path(f"/run/aimx-bench-{tag}")
    shutil.rmtree(base, ignore_errors=True)
    settings.SALT_MINION_SOURCE = lab_salt.minion_source(f"{base}/{{minion_id}}")
    ids = [f"{name}-b" for name in node_rows]
    try:
        job = run_job(salt_install_job.start_batch_install(admin, nodes=list(node_rows.values()), master=master,
                                                           minion_id="{node}-b", portal_url=portal_url))
        hosts = job.result["hosts"]
        per_step = {step: round(statistics.median(h["seconds"][step] for h in hosts.values()), 2) for step in STEPS}
        return {"hosts": len(hosts), "parallel": job.result["parallel"], "wall_s": job.wall_s,
                "per_host_step_median_s": per_step, "ok": sum(1 for h in hosts.values() if h["ok"])}
    finally:
        lab.remove_salt_minions(salt_services.client_for(master, actor=admin, purpose="bench cleanup", role="admin"),
                                base, ids)


def bench_scale(admin, inv, node_rows, count: int) -> dict:
    lab_cluster = inv.slurm.managed
    cluster = Cluster.objects.create(name=PREFIX, kind=ClusterKind.MANAGED,
                                     controller=node_rows[lab_cluster.controller_host], reuse_config=False,
                                     reuse_munge=False, reuse_database=False, **managed_fields(lab_cluster))
    services.discover(cluster)
    spare = [n for n in lab_cluster.node_names if n != lab_cluster.controller_host][:count]
    if len(spare) < count:
        raise RuntimeError(f"the lab cluster has {len(spare)} non-controller nodes; --scale {count} needs more hosts")
    for member in cluster.members.filter(slurm_name__in=spare):
        managed.remove_node(admin, member)
    run_job(config_jobs.start_apply(admin, cluster))
    for name in spare:
        result = remote.run(node_rows[name], lab_cluster.control["slurmd_stop"] + [name], timeout=60, purpose="bench")
        if result.exit_status != 0:
            raise RuntimeError(f"{name}: slurmd did not stop: {result.stderr}")
    munge = lab_scaling.register_munge(admin, lab_cluster, lab_networks(inv)["ssh"])
    settings.SALT_PILLAR_DIR = inv.salt.pillar_roots[0]
    settings.SLURM_NODE_PILLAR = {PREFIX: lab_scaling.node_pillar(lab_cluster)[lab_cluster.name]}
    settings.SCALE_IDLE_TIMEOUT = 120.0
    job = run_job(scaling.start_scale(admin, cluster, spare, munge_key=munge.name))
    idle = dict(cluster.members.filter(slurm_name__in=spare).values_list("slurm_name", "state"))
    return {"nodes": count, "wall_s": job.wall_s, "steps": step_times(job),
            "states_after": idle, "failed": job.result.get("failed", [])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench/results/salt.json")
    parser.add_argument("--hosts", type=int, default=6)
    parser.add_argument("--pings", type=int, default=100)
    parser.add_argument("--scale", type=int, default=3)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.salt: SKIPPED, the lab needs root (network namespaces, users); nothing written", file=sys.stderr)
        return 0
    lab_settings = lab.unique_settings(VAR_DIR / "labs", hosts=args.hosts, slurm_external=0)
    result = {"benchmark": "salt", "machine": machine_info(), "code": code_info(), "hosts": args.hosts}
    published, daphne = None, None
    components = ("hosts", "slurm", "salt")
    try:
        t0 = time.perf_counter()
        inv = lab.lab_up(components, timeout=300, **lab_settings)
        result["lab_up_s"] = round(time.perf_counter() - t0, 1)
        print(f"lab up in {result['lab_up_s']} s ({len(inv.hosts)} hosts, Salt {inv.salt.version})", flush=True)
        published = publish_networks(lab_networks(inv), name=f"{PREFIX}-{os.getpid()}")
        clean()
        admin, node_rows, master = register(inv)
        gateway = inv.network.get("gateway") or "127.0.0.1"
        env = processes.child_env(AIMATRIX_ALLOWED_HOSTS=f"localhost,127.0.0.1,{gateway}", AIMATRIX_DB_POOL="1")
        daphne, url = processes.start_daphne(f"{PREFIX}-daphne", env, VAR_DIR / "logs", host="0.0.0.0")
        ids = accept_all(admin, inv, master)
        result["ping"] = bench_ping(admin, master, ids, args.pings)
        print("ping:", result["ping"], flush=True)
        result["batch_install"] = bench_batch_install(admin, inv, master, node_rows,
                                                      f"http://{gateway}:{url.rsplit(':', 1)[1]}")
        print("batch install:", result["batch_install"], flush=True)
        result["scale"] = bench_scale(admin, inv, node_rows, args.scale)
        print("scale:", result["scale"], flush=True)
    finally:
        if daphne is not None:
            daphne.stop()
        clean()
        if published:
            published.unlink(missing_ok=True)
        lab.lab_down(components, **lab_settings)
    result["notes"] = ("2 cores shared by the lab's salt-master (3 worker threads), salt-api, a minion per host, "
                       "slurmctld, slurmd per host, sshd, PostgreSQL, daphne and this process")
    return write_result(args.out, result)


if __name__ == "__main__":
    raise SystemExit(main())
