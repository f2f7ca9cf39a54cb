"""Nodes benchmarks: SSH fan-out over real sshd hosts, and the Redfish power-state poll.

    python -m bench.nodes --out bench/results/nodes.json

Needs root (the lab: network namespaces, a user), DATABASE_URL (PostgreSQL, migrated) and
REDIS_URL; `scripts/bench.sh` provides the last two. It brings up its own lab with
devtools.lab (unique directory, bridge, subnet and port; 3 sshd hosts and a sushy-emulator with
200 extra systems, power changes settling within 1 s) and tears it down at the end.

- SSH (apps.nodes.ssh, strict host keys from the lab inventory, the lab's client key): `true` on
  the 3 hosts through `fan_out` with a thread pool, (a) over one SSHPool (connections reused)
  and (b) with a fresh connection per command (a new SSHPool per command, closed after it):
  commands/s and latency; then the same one host at a time, sequentially (connect + auth + exec
  + close versus exec on an open connection).
- Redfish: 200 nodes rf-0001..rf-0200, each with a Redfish BMC (the emulator's URL, one extra
  system each, a bmc_credentials secret; 10 of the systems switched on first), then
  `poll_power_states(limit=200, concurrency=C, budget_s=120)` for C in 1, 4, 16, 32: wall time,
  polls/s, errors, HTTP requests per poll, CPU per component (bench process, emulator,
  PostgreSQL), and whether every row's power_state/health/polled_at was written and matches the
  emulator (each row is cleared first, so every poll records a change: the most writes a round
  can do). Then where the time of one poll goes, sequentially: the vault read, a fresh client's
  power_state()/health() (sushy reads the service root and the system collection before the
  system) versus a reused client's, single HTTP GETs, the emulator's bcrypt check, a row update,
  a new database connection; and the 200 systems polled with clients only (no vault, no
  database), first with fresh clients, then again with the same clients (what caching clients
  would give). Last, the emulator restarted with bcrypt cost 4 instead of 8 (auth ~1 ms instead
  of ~15 ms per request) and one more round at C=16 plus the clients-only pair: closer to what
  the portal side itself can do when the BMCs are not the bottleneck.

HTTP requests are counted by wrapping requests.Session.send in this process (measurement only).
Standalone: does not import pytest or the test suite.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")
django.setup()

import requests  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.keyvault import services as kv  # noqa: E402
from apps.keyvault.models import Secret, SecretAccess  # noqa: E402
from apps.nodes import remote, services as nodes, ssh  # noqa: E402
from apps.nodes.bmc import PowerAction, PowerState, wait_for_power  # noqa: E402
from apps.nodes.models import Bmc, Node, NodeEvent  # noqa: E402
from apps.nodes.power_poll import poll_power_states  # noqa: E402
from apps.nodes.redfish import RedfishClient  # noqa: E402
from devtools import lab  # noqa: E402

from .measure import HTTP, Cpu, _pidfile, code_info, machine_info, ms_stats, summary, wait_for_quiet  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("AIMATRIX_VAR_DIR", ROOT / "var" / "bench" / "app")).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
LABEL = "bench-nodes"
SECRET_NAME = "bench-nodes-redfish"
NOISY_PCT = 25.0  # other processes above this (% of one core) during a measurement: marked noisy
POWERED_ON = 10  # extra systems switched on before the rounds, so the states to record are mixed


# --- the lab -----------------------------------------------------------------------------------------
def lab_roots(inv: lab.Inventory) -> dict[str, list]:
    sshd = [_pidfile(inv.lab_dir / "hosts" / h.name / "sshd.pid") for h in inv.hosts]
    pg_dir = os.environ.get("PG_DIR")
    return {"bench": [os.getpid()], "sshd": [p for p in sshd if p],
            "emulator": [lambda: _pidfile(inv.lab_dir / "redfish" / "emulator.pid")],  # restarted once
            "postgres": [_pidfile(Path(pg_dir) / "data" / "postmaster.pid")] if pg_dir else []}


# --- SSH -----------------------------------------------------------------------------------------------
def ssh_targets(inv: lab.Inventory):
    return [(ssh.Endpoint(h.address, h.port, h.user), [(h.host_key_type, h.host_key)]) for h in inv.hosts]


def run_true(pool: ssh.SSHPool, creds, target) -> float:
    endpoint, trusted = target
    start = time.perf_counter()
    result = pool.run(endpoint, creds, trusted, ["true"], timeout=30)
    elapsed = time.perf_counter() - start
    if result.exit_status != 0:
        raise RuntimeError(f"`true` on {endpoint} exited {result.exit_status}: {result.stderr[:200]}")
    return elapsed


def run_fresh(creds, target) -> float:
    """connect + auth + exec + close: a pool of its own, closed after the one command."""
    pool = ssh.SSHPool()
    start = time.perf_counter()
    try:
        run_true(pool, creds, target)
    finally:
        pool.close_all()
    return time.perf_counter() - start


def fan(func, items, workers):
    latencies, errors = [], []
    start = time.perf_counter()
    for _, outcome in ssh.fan_out(items, func, max_workers=workers):
        if isinstance(outcome, BaseException):
            errors.append(f"{type(outcome).__name__}: {outcome}"[:200])
        else:
            latencies.append(outcome)
    result = summary(latencies, time.perf_counter() - start)
    result.update(errors=len(errors), error_samples=errors[:3])
    return result


def check_strict(creds, target) -> str:
    """A wrong trusted key of the offered type must be refused: the pool does check host keys."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    endpoint, [(key_type, _)] = target
    other = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode().split()[1]
    pool = ssh.SSHPool()
    try:
        pool.run(endpoint, creds, [(key_type, other)], ["true"], timeout=10)
    except ssh.HostKeyMismatch:
        return "a wrong trusted key is refused (HostKeyMismatch)"
    finally:
        pool.close_all()
    raise RuntimeError("a connection with a wrong trusted host key was NOT refused")


def measure(cpu: Cpu, label: str, func, items, workers) -> dict:
    quiet = wait_for_quiet()
    cpu.start()
    result = fan(func, items, workers)
    result["cpu_pct"] = cpu.stop()
    result["cpu_ms_per_command"] = cpu.ms_per(result["commands"])
    result["machine_busy_pct_before"] = quiet
    print(f"  {label:<26}: {fmt_run(result)}", flush=True)
    return result


def bench_ssh(inv: lab.Inventory, cpu_roots, args) -> dict:
    creds = ssh.Credentials(private_key=Path(inv.client_key_path).read_text())
    targets = ssh_targets(inv)
    print(f"SSH: `true` on {len(targets)} lab hosts ({inv.network.get('mode')} mode), strict host keys, "
          f"{args.workers} fan-out workers", flush=True)
    strict = check_strict(creds, targets[0])
    cpu = Cpu({k: v for k, v in cpu_roots.items() if k in ("bench", "sshd")})

    pool = ssh.SSHPool()  # production defaults: max_per_key=4, idle_timeout=60
    fan(lambda i: run_true(pool, creds, targets[i % len(targets)]), range(args.workers * 2), args.workers)  # warm up
    warm_stats = dict(pool.stats)
    reuse = measure(cpu, "(a) one pool, reused", lambda i: run_true(pool, creds, targets[i % len(targets)]),
                    range(args.reuse), args.workers)
    reuse["pool_stats"] = {k: pool.stats[k] - warm_stats.get(k, 0) for k in pool.stats}
    reuse["connections_open"] = pool.idle_count()
    fresh = measure(cpu, "(b) new connection each", lambda i: run_fresh(creds, targets[i % len(targets)]),
                    range(args.new), args.workers)

    wait_for_quiet()
    seq_new = [run_fresh(creds, targets[0]) for _ in range(args.seq_new)]
    run_true(pool, creds, targets[0])
    seq_reuse = [run_true(pool, creds, targets[0]) for _ in range(args.seq_reuse)]
    pool.close_all()
    sequential = {"host": inv.hosts[0].name,
                  "new_connection": summary(seq_new, sum(seq_new)),
                  "reused_connection": summary(seq_reuse, sum(seq_reuse))}
    sequential["speedup_p50"] = ratio(sequential["new_connection"]["p50_ms"], sequential["reused_connection"]["p50_ms"])
    print(f"  sequential, one host      : connect+auth+exec+close p50 {sequential['new_connection']['p50_ms']} ms "
          f"(p95 {sequential['new_connection']['p95_ms']}); exec on an open connection p50 "
          f"{sequential['reused_connection']['p50_ms']} ms (p95 {sequential['reused_connection']['p95_ms']}); "
          f"{sequential['speedup_p50']}x", flush=True)
    speedup = ratio(reuse["per_s"], fresh["per_s"])
    targets_met = {"reuse_at_least_10x_new": bool(speedup and speedup >= 10),
                   "reuse_at_least_150_per_s": bool(reuse["per_s"] and reuse["per_s"] >= 150)}
    print(f"  speed-up (commands/s, fan-out) {speedup}x; targets: {targets_met}", flush=True)
    return {"hosts": [h.name for h in inv.hosts], "network_mode": inv.network.get("mode"), "workers": args.workers,
            "command": ["true"], "strict_host_key_check": strict, "reuse": reuse, "new_connection": fresh,
            "speedup": speedup, "sequential": sequential, "targets_met": targets_met}


def ratio(a, b):
    return round(a / b, 1) if a and b else None


def fmt_run(r: dict) -> str:
    cpu, per = r.get("cpu_pct", {}), r.get("cpu_ms_per_command", {})
    return (f"{r['commands']} in {r['wall_s']} s = {r['per_s']}/s, p50 {r['p50_ms']} p95 {r['p95_ms']} "
            f"p99 {r['p99_ms']} ms, errors {r['errors']}; cpu ms/command bench {per.get('bench')} sshd "
            f"{per.get('sshd')}; other load {cpu.get('other')}%{' NOISY' if cpu.get('noisy') else ''}")


# --- Redfish -----------------------------------------------------------------------------------------
def bench_user():
    User = get_user_model()
    user, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_superuser": True, "is_staff": True})
    return user


def register(inv: lab.Inventory, actor, count: int, subnet: str) -> tuple[list[Node], dict]:
    """count nodes with a Redfish BMC each (earlier runs' bench nodes are removed first)."""
    from apps.nodes.management.commands.lab_register import lab_networks, publish_networks

    username, password = inv.redfish.credentials()
    networks = lab_networks(inv)
    publish_networks(networks, name="bench-lab")  # the emulator listens on loopback
    secret = Secret.objects.filter(name=SECRET_NAME).first()
    if secret is None:
        kv.create_secret(actor, name=SECRET_NAME, kind="bmc_credentials", value=f"{username}:{password}",
                         destinations=networks["redfish"])
    else:
        kv.update_secret(actor, secret, value=f"{username}:{password}", destinations=networks["redfish"])
    Node.objects.filter(labels__contains=[LABEL]).delete()
    systems = sorted(inv.redfish.extra_systems.items())[:count]
    if len(systems) < count:
        raise RuntimeError(f"the emulator has {len(systems)} extra systems, {count} wanted")
    created = []
    for i, (_, system_id) in enumerate(systems, start=1):
        node = nodes.create_node(actor, name=f"rf-{i:04d}", address=f"{subnet}.{9 + i}", labels=[LABEL])
        nodes.set_bmc(actor, node, driver="redfish", address=inv.redfish.url, credential=SECRET_NAME,
                      system_id=system_id, verify_tls=False)
        created.append(node)
    return created, dict(systems)


def power_on_some(inv: lab.Inventory, system_ids: list[str]) -> list[RedfishClient]:
    username, password = inv.redfish.credentials()
    clients = [RedfishClient(inv.redfish.url, username, password, system_id=s, verify=inv.redfish.ca_file or False)
               for s in system_ids]
    for c in clients:
        c.power(PowerAction.ON)
    return clients


def round_of(concurrency: int, bench_bmcs, cpu: Cpu, limit: int) -> tuple[dict, dict]:
    """One poll_power_states round over the bench rows (cleared first: every poll records a change)."""
    bench_bmcs.update(polled_at=None, power_state="", poll_error="")
    foreign_null = Bmc.objects.filter(polled_at__isnull=True).exclude(pk__in=bench_bmcs.values("pk")).count()
    events_before, access_before = NodeEvent.objects.count(), SecretAccess.objects.count()
    quiet = wait_for_quiet()
    HTTP.reset()
    started_at = timezone.now()
    cpu.start()
    t0 = time.perf_counter()
    result = poll_power_states(limit=limit, concurrency=concurrency, budget_s=120)
    wall = time.perf_counter() - t0
    cpu_pct = cpu.stop()
    http = HTTP.snapshot()
    rows = list(bench_bmcs.values("system_id", "power_state", "health", "polled_at", "poll_error"))
    polled = [r for r in rows if r["polled_at"] and r["polled_at"] >= started_at]
    ok = [r for r in polled if not r["poll_error"]]
    out = {
        "concurrency": concurrency, "wall_s": round(wall, 2),
        "polls_per_s": round(len(ok) / wall, 1), "poll_power_states": result,
        "rows": len(rows), "rows_polled": len(polled), "rows_ok": len(ok),
        "rows_with_error": len(polled) - len(ok),
        "error_samples": sorted({r["poll_error"] for r in polled if r["poll_error"]})[:3],
        "states": dict(sorted(_count(r["power_state"] for r in ok).items())),
        "health": dict(sorted(_count(r["health"] for r in ok).items())),
        "node_events_added": NodeEvent.objects.count() - events_before,
        "secret_reads_logged": SecretAccess.objects.count() - access_before,
        "requests_per_poll": round(http["requests"] / max(1, len(polled)), 2),
        "http": http, "cpu_pct": cpu_pct, "cpu_ms_per_poll": cpu.ms_per(len(polled)),
        "machine_busy_pct_before": quiet, "foreign_bmcs_never_polled": foreign_null,
    }
    return out, {r["system_id"]: r["power_state"] for r in ok}


def fmt_round(r: dict) -> str:
    per, cpu = r["cpu_ms_per_poll"], r["cpu_pct"]
    return (f"{r['rows_ok']}/{r['rows']} ok in {r['wall_s']} s = {r['polls_per_s']} polls/s, errors "
            f"{r['rows_with_error']}, {r['requests_per_poll']} HTTP req/poll ({r['http']['new_connections']} new "
            f"TCP connections), states {r['states']}; cpu ms/poll bench {per.get('bench')} emulator "
            f"{per.get('emulator')} postgres {per.get('postgres')}; other load {cpu.get('other')}%"
            f"{' NOISY' if cpu.get('noisy') else ''}")


def _count(values):
    out = defaultdict(int)
    for v in values:
        out[v or "(empty)"] += 1
    return out


def timeit(func, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return times


def breakdown(inv: lab.Inventory, bmc: Bmc, n: int) -> dict:
    """What one poll costs, piece by piece, sequentially (no concurrency)."""
    username, password = inv.redfish.credentials()
    node = Node.objects.select_related("bmc", "bmc__credential").get(pk=bmc.node_id)
    url, system_path = inv.redfish.url, f"/redfish/v1/Systems/{bmc.system_id}"
    out = {}
    wait_for_quiet()
    out["vault_read_and_make_client"] = ms_stats(timeit(lambda: remote.bmc_client(node, "bench nodes"), n))

    def client_figures(func):
        HTTP.reset()
        figures = ms_stats(timeit(func, n))
        http = HTTP.snapshot()
        figures.update(requests_per_call=round(http["requests"] / n, 2),
                       new_connections_per_call=round(http["new_connections"] / n, 2),
                       http_ms={k: v["mean_ms"] for k, v in http["by_kind"].items()})
        return figures

    out["fresh_client_power_state"] = client_figures(
        lambda: RedfishClient(url, username, password, system_id=bmc.system_id, verify=False).power_state())
    out["fresh_client_health"] = client_figures(  # what poll_power_states calls (state + health, one GET)
        lambda: RedfishClient(url, username, password, system_id=bmc.system_id, verify=False).health())
    client = RedfishClient(url, username, password, system_id=bmc.system_id, verify=False)
    client.power_state()
    out["reused_client_power_state"] = client_figures(client.power_state)
    out["reused_client_health"] = client_figures(client.health)

    session = requests.Session()
    session.auth = (username, password)
    for name, path in (("service_root", "/redfish/v1/"), ("systems_collection", "/redfish/v1/Systems"),
                       ("system", system_path)):
        session.get(url + path, timeout=10).raise_for_status()
        out[f"raw_get_{name}"] = ms_stats(timeit(lambda: session.get(url + path, timeout=10).content, n))
    out["systems_in_collection"] = len(session.get(url + "/redfish/v1/Systems", timeout=10).json().get("Members", []))
    session.close()
    out["raw_get_system_no_auth_401"] = ms_stats(timeit(lambda: requests.get(url + system_path, timeout=10).status_code, n))

    digest = next((line.split(":", 1)[1].strip() for line in
                   (inv.lab_dir / "redfish" / "htpasswd").read_text().splitlines()
                   if line.startswith(f"{username}:")), None)
    if digest:
        import bcrypt
        out["bcrypt_checkpw"] = ms_stats(timeit(lambda: bcrypt.checkpw(password.encode(), digest.encode()), n))
        out["bcrypt_cost"] = int(digest.split("$")[2])

    def db_write():
        Bmc.objects.filter(pk=bmc.pk).update(power_state="off", polled_at=timezone.now(), poll_error="")
    out["db_row_update"] = ms_stats(timeit(db_write, n))

    def db_connect():  # what a poll thread pays when it closes its connection after each poll
        connection.close()
        connection.ensure_connection()
    out["db_new_connection"] = ms_stats(timeit(db_connect, n))
    return out


def print_breakdown(parts: dict):
    for key, value in parts.items():
        if not isinstance(value, dict):
            continue
        line = f"    {key:<28} p50 {value['p50_ms']:>7} ms  mean {value['mean_ms']:>7} ms"
        if "requests_per_call" in value:
            line += (f"  ({value['requests_per_call']} requests, {value['new_connections_per_call']} new "
                     f"connections: " + ", ".join(f"{k} {v} ms" for k, v in value["http_ms"].items()) + ")")
        print(line, flush=True)
    print(f"    ({parts.get('systems_in_collection')} members in the systems collection; htpasswd bcrypt cost "
          f"{parts.get('bcrypt_cost')}, checked by the emulator on every authenticated request)", flush=True)


def cached_clients_round(inv: lab.Inventory, system_ids: list[str], concurrency: int, cpu: Cpu) -> tuple[dict, dict]:
    """The systems with one client each, no vault and no database: the first health() call (what a
    fresh client costs), then a second pass on the same clients (what caching clients would give)."""
    username, password = inv.redfish.credentials()
    clients = [RedfishClient(inv.redfish.url, username, password, system_id=s, verify=inv.redfish.ca_file or False)
               for s in system_ids]
    out, states = {"concurrency": concurrency}, {}
    try:
        for name in ("first_call", "cached"):
            wait_for_quiet()
            HTTP.reset()
            cpu.start()
            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=concurrency) as ex:
                results = list(ex.map(lambda c: (c.system_id, c.health()["power_state"]), clients))
            wall = time.perf_counter() - t0
            cpu_pct = cpu.stop()
            states = dict(results)
            http = HTTP.snapshot()
            out[name] = {"wall_s": round(wall, 2), "polls_per_s": round(len(results) / wall, 1),
                         "requests_per_poll": round(http["requests"] / len(results), 2),
                         "new_connections": http["new_connections"],
                         "http_ms": {k: v["mean_ms"] for k, v in http["by_kind"].items()},
                         "cpu_ms_per_poll": cpu.ms_per(len(results)), "cpu_pct": cpu_pct}
    finally:
        for c in clients:
            if c._root is not None:
                c._root._conn.close()
    return out, states


def warm_up(inv: lab.Inventory, system_ids: list[str]) -> None:
    """One unmeasured read of every system: the emulator's first request for a system after its
    start costs several times a later one (its fake driver loads the system's state)."""
    username, password = inv.redfish.credentials()

    def read(system_id):
        client = RedfishClient(inv.redfish.url, username, password, system_id=system_id, verify=False)
        client.power_state()
        client._root._conn.close()
    with ThreadPoolExecutor(max_workers=8) as ex:
        list(ex.map(read, system_ids))


def fmt_cached(cache: dict) -> str:
    f, c = cache["first_call"], cache["cached"]
    return (f"fresh clients {f['polls_per_s']}/s ({f['requests_per_poll']} req/poll, cpu ms/poll bench "
            f"{f['cpu_ms_per_poll'].get('bench')} emulator {f['cpu_ms_per_poll'].get('emulator')}), "
            f"cached clients {c['polls_per_s']}/s ({c['requests_per_poll']} req/poll, cpu ms/poll bench "
            f"{c['cpu_ms_per_poll'].get('bench')} emulator {c['cpu_ms_per_poll'].get('emulator')})"
            f"{' NOISY' if f['cpu_pct']['noisy'] or c['cpu_pct']['noisy'] else ''}")


def bench_redfish(inv: lab.Inventory, settings: dict, cpu_roots, args) -> dict:
    actor = bench_user()
    extra = sorted(inv.redfish.extra_systems.items())[:args.systems]
    system_ids = [sid for _, sid in extra]
    on_ids = system_ids[:: max(1, len(extra) // POWERED_ON)][:POWERED_ON]
    print(f"Redfish: {len(extra)} emulated systems at {inv.redfish.url}; {len(on_ids)} switched on first", flush=True)
    on_clients = power_on_some(inv, on_ids)
    t0 = time.perf_counter()
    created, _ = register(inv, actor, args.systems, settings["subnet"])
    registration_s = time.perf_counter() - t0
    print(f"  registered {len(created)} nodes with Redfish BMCs in {registration_s:.1f} s", flush=True)
    for c in on_clients:
        wait_for_power(c, PowerState.ON, 20, 0.2)
    bench_bmcs = Bmc.objects.filter(node__labels__contains=[LABEL])
    cpu = Cpu({k: v for k, v in cpu_roots.items() if k in ("bench", "emulator", "postgres")})
    warm_up(inv, system_ids)

    rounds, recorded = [], []
    for c in args.concurrency:
        r, states = round_of(c, bench_bmcs, cpu, args.systems)
        rounds.append(r)
        recorded.append(states)
        print(f"  poll_power_states concurrency {c:>2}: {fmt_round(r)}", flush=True)

    print("  one poll, piece by piece (sequential, one system):", flush=True)
    parts = breakdown(inv, bench_bmcs.first(), args.breakdown_n)
    print_breakdown(parts)
    top = max(args.concurrency)
    cache, truth = cached_clients_round(inv, system_ids, top, cpu)
    print(f"  clients only (no vault, no DB), concurrency {top}: {fmt_cached(cache)}", flush=True)
    # Nothing changed a power state between the rounds and that reading: every row must match it.
    for r, states in zip(rounds, recorded):
        r["rows_matching_emulator"] = sum(1 for sid, state in states.items() if truth.get(sid) == state)
    result = {"systems": len(extra), "switched_on_for_the_run": len(on_ids),
              "emulator_says_on": sum(1 for s in truth.values() if s == "on"),
              "registration_s": round(registration_s, 2), "rounds": rounds, "breakdown": parts,
              "clients_only": cache}

    if args.cheap_auth_concurrency:
        # The emulator checks a bcrypt hash (cost 8, ~15 ms of its CPU) on every authenticated
        # request; a real BMC's per-request cost is its own. Cost 4 takes that mostly away and
        # shows what the portal side can do.
        lab.lab_up(("redfish",), timeout=120, **settings, redfish_bcrypt_rounds=4)
        warm_up(inv, system_ids)
        c = args.cheap_auth_concurrency
        r, states = round_of(c, bench_bmcs, cpu, args.systems)
        r["rows_matching_emulator"] = sum(1 for sid, state in states.items() if truth.get(sid) == state)
        print(f"  emulator bcrypt cost 4: poll_power_states concurrency {c:>2}: {fmt_round(r)}", flush=True)
        cheap_cache, _ = cached_clients_round(inv, system_ids, c, cpu)
        print(f"  emulator bcrypt cost 4: clients only, concurrency {c}: {fmt_cached(cheap_cache)}", flush=True)
        result["cheap_auth"] = {"bcrypt_cost": 4, "round": r, "clients_only": cheap_cache}
    return result


# --- main ----------------------------------------------------------------------------------------------
def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # run the finally blocks: the lab comes down


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench/results/nodes.json")
    parser.add_argument("--workers", type=int, default=9, help="fan-out threads (3 per lab host)")
    parser.add_argument("--reuse", type=int, default=600, help="commands over reused connections")
    parser.add_argument("--new", type=int, default=150, help="commands with a new connection each")
    parser.add_argument("--seq-new", type=int, default=30)
    parser.add_argument("--seq-reuse", type=int, default=200)
    parser.add_argument("--systems", type=int, default=200, help="Redfish systems / nodes to poll")
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 16, 32])
    parser.add_argument("--breakdown-n", type=int, default=30)
    parser.add_argument("--cheap-auth-concurrency", type=int, default=16,
                        help="one more round with the emulator's bcrypt cost at 4 (0: skip)")
    parser.add_argument("--keep-lab", action="store_true", help="leave the lab directory (keys, logs) behind")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:  # skipped, not failed: the other benchmarks of `make bench` still count
        print("bench.nodes: SKIPPED, the lab needs root (network namespaces, a user); nothing written",
              file=sys.stderr)
        return 0
    signal.signal(signal.SIGTERM, _terminate)
    HTTP.install()
    started = time.perf_counter()
    machine = machine_info()
    components = ("hosts", "redfish")
    settings = lab.unique_settings(VAR_DIR / "labs", hosts=3, redfish_extra=args.systems, redfish_fast=1)
    print(f"lab: {settings['dir']} bridge {settings['bridge']} subnet {settings['subnet']}.0/24 "
          f"redfish :{settings['redfish_port']}", flush=True)
    failed = True
    try:
        t0 = time.perf_counter()
        inv = lab.lab_up(components, timeout=180, **settings)
        lab_up_s = time.perf_counter() - t0
        print(f"lab up in {lab_up_s:.1f} s ({len(inv.hosts)} hosts, {len(inv.redfish.extra_systems)} extra "
              f"Redfish systems)", flush=True)
        roots = lab_roots(inv)
        ssh_result = bench_ssh(inv, roots, args)
        redfish_result = bench_redfish(inv, settings, roots, args)
        failed = False
    finally:
        t0 = time.perf_counter()
        try:
            lab.lab_down(components, **settings)
        finally:
            if not failed and not args.keep_lab:
                shutil.rmtree(settings["dir"], ignore_errors=True)
        print(f"lab down in {time.perf_counter() - t0:.1f} s", flush=True)
    result = {
        "benchmark": "nodes",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "code": code_info(),
        "lab": {"hosts": 3, "redfish_extra": args.systems, "redfish_fast": 1, "network_mode": inv.network.get("mode"),
                "up_s": round(lab_up_s, 1)},
        "ssh": ssh_result,
        "redfish": redfish_result,
        "total_s": round(time.perf_counter() - started, 1),
        "notes": "SSH latency is per command as the caller sees it (pool.run; for new connections a fresh SSHPool "
                 "connects, authenticates with the lab's ed25519 client key against the inventory's host key, runs "
                 "`true` and is closed). Redfish rounds clear every bench row's power_state and polled_at first, "
                 "so each poll writes a change and a NodeEvent. All processes (bench, sshd, emulator, PostgreSQL) "
                 "share the machine's cores; cpu_pct is percent of one core, 'other' = everything else.",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {args.out} ({result['total_s']} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
