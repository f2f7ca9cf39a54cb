"""Live-progress benchmark: task -> PostgreSQL -> Redis channel layer -> daphne -> websocket.

    python -m bench.live_progress --out bench/results/live_progress.json [--rates 100,500 ...]

Needs DATABASE_URL (PostgreSQL, migrated) and REDIS_URL in the environment; `scripts/bench.sh`
provides both. It starts its own daphne and one Celery worker (real subprocesses, as in
production), creates a superuser with a DRF token, then for each rate starts a `core.pulse` job
through the REST API, connects a websocket client to /ws/jobs/<id>/?after=0 right away and
receives frames until the job's final status event. Each pulse log event carries `t`
(time.time() when the worker emitted it) and `i` (1..count), so the client can compute the
end-to-end latency (its receive time minus `t`; same machine, same clock), what was lost and what
came twice. CPU time of every component is sampled around each run from /proc, to show where
the time goes.

Latency is reported for events emitted after the websocket handshake completed ("live"); events
emitted before that reach the client through the consumer's database replay and are reported
separately ("all" includes them). Standalone: does not import pytest or the test suite.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from devtools import processes

from .measure import _machine_cpu, _pidfile, _proc_stats, code_info, cpu_model_name, postgres_version

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FINAL_STATUSES = ("succeeded", "failed", "cancelled")
DEFAULT_RATES = "100,250,500,750,1000,1500,2000,3000,4000,6000,8000"
BENCH_USER = "bench"


# --- processes ------------------------------------------------------------------------------
def start_daphne(log_dir: Path, port: int):
    return processes.start_daphne("daphne", processes.child_env(), log_dir, port=port or None)


def start_worker(log_dir: Path, concurrency: int):
    return processes.start_worker(f"bench-{os.getpid()}", processes.child_env(), log_dir, concurrency=concurrency)


# --- CPU accounting from /proc ----------------------------------------------------------------
class CpuSampler:
    """CPU seconds used by each component (its whole process tree) between two samples."""

    def __init__(self, roots: dict[str, callable]):
        self.roots = roots  # name -> function returning the root pid (or None)

    def sample(self) -> dict:
        stats = _proc_stats()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        out = {}
        for name, root_of in self.roots.items():
            root = root_of()
            if root is None or root not in stats:
                continue
            if name == "client":  # this process only: its children are daphne and the worker
                out[name] = stats[root][1]
                continue
            total, todo = stats[root][2], [root]
            while todo:
                pid = todo.pop()
                total += stats[pid][1]
                todo.extend(children.get(pid, []))
            out[name] = total
        out["_machine_busy"], out["_machine_total"] = _machine_cpu()
        out["_wall"] = time.monotonic()
        return out

    @staticmethod
    def diff(before: dict, after: dict) -> dict:
        wall = after["_wall"] - before["_wall"]
        ncpu = os.cpu_count() or 1
        result = {}
        ours = 0.0
        for name in before:
            if name.startswith("_") or name not in after:
                continue
            used = after[name] - before[name]
            ours += used
            result[name] = round(100 * used / wall, 1)
        busy = after["_machine_busy"] - before["_machine_busy"]
        total = after["_machine_total"] - before["_machine_total"]
        result["other"] = round(max(0.0, 100 * (busy - ours) / wall), 1)
        result["machine_busy_pct_of_all_cores"] = round(100 * busy / total, 1) if total else None
        result["_unit"] = f"percent of one core over {wall:.1f}s wall ({ncpu} cores)"
        return result


# --- HTTP + websocket client ----------------------------------------------------------------
class Api:
    def __init__(self, base_url: str, token: str):
        self.base_url = base_url
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json",
                        "Accept": "application/json"}

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:500]!r}") from None


def open_socket(base_url: str, token: str, job_id: int):
    from websockets.sync.client import connect

    ws_url = base_url.replace("http://", "ws://") + f"/ws/jobs/{job_id}/?after=0"
    return connect(ws_url, additional_headers={"Authorization": f"Token {token}"}, origin=base_url,
                   open_timeout=10, max_size=None)


# --- statistics ---------------------------------------------------------------------------------
def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def latency_summary(values_s: list[float]) -> dict:
    ms = sorted(v * 1000 for v in values_s)
    if not ms:
        return {"n": 0}
    r = lambda v: round(v, 2)  # noqa: E731
    return {"n": len(ms), "min": r(ms[0]), "mean": r(sum(ms) / len(ms)), "p50": r(percentile(ms, 50)),
            "p95": r(percentile(ms, 95)), "p99": r(percentile(ms, 99)), "max": r(ms[-1])}


# --- one run --------------------------------------------------------------------------------------
def run_rate(api: Api, token: str, rate: float, count: int, sampler: CpuSampler, timeout: float,
             dump: Path | None = None) -> dict:
    from apps.jobs.models import Job, JobEvent

    cpu_before = sampler.sample()
    t_post = time.time()
    job = api.request("POST", "/api/v1/jobs/", {"kind": "core.pulse", "params": {"count": count, "rate": rate}})
    job_id = job["id"]
    t_posted = time.time()
    received: list[tuple[float, dict]] = []  # (receive time, event)
    frames = 0
    timed_out = False
    final_at = None
    with open_socket(api.base_url, token, job_id) as ws:
        t_connected = time.time()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            try:
                raw = ws.recv(timeout=left)
            except TimeoutError:
                timed_out = True
                break
            now = time.time()
            frame = json.loads(raw)
            frames += 1
            events = frame.get("events", [])
            received.extend((now, e) for e in events)
            if any(e["kind"] == "status" and e["message"] in FINAL_STATUSES for e in events):
                final_at = now
                break
        # Keep listening a little: anything arriving after the final status is a duplicate.
        linger_until = time.monotonic() + 0.5
        while (left := linger_until - time.monotonic()) > 0:
            try:
                raw = ws.recv(timeout=left)
            except TimeoutError:
                break
            frames += 1
            received.extend((time.time(), e) for e in json.loads(raw).get("events", []))
    if timed_out:
        try:
            api.request("POST", f"/api/v1/jobs/{job_id}/cancel/")
        except RuntimeError:
            pass
    cpu = CpuSampler.diff(cpu_before, sampler.sample())
    job = Job.objects.get(pk=job_id)

    # First receipt of each pulse log event, by its index i.
    first_seen: dict[int, tuple[float, float, int]] = {}  # i -> (recv, t, seq)
    log_total = 0
    seqs_seen: dict[int, int] = {}
    for recv, e in received:
        seqs_seen[e["seq"]] = seqs_seen.get(e["seq"], 0) + 1
        data = e.get("data") or {}
        if e["kind"] == "log" and "i" in data and "t" in data:
            log_total += 1
            first_seen.setdefault(int(data["i"]), (recv, float(data["t"]), e["seq"]))
    unique = len(first_seen)
    emit_ts = sorted(t for _, t, _ in first_seen.values())
    lat_all = [recv - t for recv, t, _ in first_seen.values()]
    lat_live = [recv - t for recv, t, _ in first_seen.values() if t >= t_connected]
    last_recv = max((recv for recv, _, _ in first_seen.values()), default=None)
    max_seq = max(seqs_seen, default=0)
    seq_gaps = [s for s in range(1, max_seq + 1) if s not in seqs_seen]

    if dump is not None:  # per-event raw data for offline analysis: [i, seq, t, receive time]
        dump.parent.mkdir(parents=True, exist_ok=True)
        rows = sorted([i, seq, t, recv] for i, (recv, t, seq) in first_seen.items())
        dump.write_text(json.dumps({"t_post": t_post, "t_connected": t_connected, "events": rows}))
    emitted_rate_from_t = (unique - 1) / (emit_ts[-1] - emit_ts[0]) if unique > 1 and emit_ts[-1] > emit_ts[0] else None
    received_rate = unique / (last_recv - emit_ts[0]) if unique and last_recv > emit_ts[0] else None
    job_result = job.result or {}
    return {
        "requested_rate": rate,
        "count": count,
        "job_id": job_id,
        "job_status": job.status,
        "timed_out": timed_out,
        "emitted_rate": job_result.get("rate"),  # measured by the task itself: count / its loop time
        "emitted_rate_from_t": round(emitted_rate_from_t, 1) if emitted_rate_from_t else None,
        "received_rate": round(received_rate, 1) if received_rate else None,  # unique events / (last receipt - first emission)
        "received_log_events": log_total,
        "unique_log_events": unique,
        "lost": count - unique,
        "duplicates": log_total - unique,
        "duplicate_seqs": sum(n - 1 for n in seqs_seen.values()),
        "seq_gaps": len(seq_gaps),
        "total_events": max_seq,
        "persisted_events": JobEvent.objects.filter(job_id=job_id).count(),
        "frames": frames,
        "events_per_frame": round(len(received) / frames, 1) if frames else None,
        "emitted_before_connect": sum(1 for t in emit_ts if t < t_connected),
        "post_ms": round((t_posted - t_post) * 1000, 1),
        "connect_ms": round((t_connected - t_posted) * 1000, 1),
        "first_event_after_post_ms": round((emit_ts[0] - t_post) * 1000, 1) if emit_ts else None,
        "final_status_after_last_emit_ms": round((final_at - emit_ts[-1]) * 1000, 1) if final_at and emit_ts else None,
        "job_seconds": round((job.finished_at - job.started_at).total_seconds(), 3)
        if job.finished_at and job.started_at else None,
        "latency_ms": latency_summary(lat_live),
        "latency_all_ms": latency_summary(lat_all),
        "cpu_pct": cpu,
    }


def wait_for_quiet(sampler: CpuSampler, threshold_pct: float, max_wait: float) -> float:
    """Wait (up to max_wait s) until the rest of the machine uses less than threshold_pct of one
    core over a second: the benchmark shares the machine with whatever else runs there.
    Returns the last background load measured (percent of one core)."""
    deadline = time.monotonic() + max_wait
    while True:
        before = sampler.sample()
        time.sleep(1.0)
        other = CpuSampler.diff(before, sampler.sample())["other"]
        if other < threshold_pct or time.monotonic() >= deadline:
            return other


def passes(r: dict, p99_bound_ms: float) -> bool:
    rate = r["requested_rate"]
    p99 = r["latency_ms"].get("p99")
    return (not r["timed_out"] and r["lost"] == 0 and r["duplicates"] == 0 and r["seq_gaps"] == 0
            and r["received_rate"] is not None and r["received_rate"] >= 0.95 * rate
            and r["emitted_rate"] is not None and r["emitted_rate"] >= 0.95 * rate
            and p99 is not None and p99 < p99_bound_ms)


# --- setup + report -----------------------------------------------------------------------------
def ensure_user_token() -> str:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    User = get_user_model()
    user, created = User.objects.get_or_create(username=BENCH_USER, defaults={"is_staff": True, "is_superuser": True})
    if created:
        user.set_unusable_password()
        user.save()
    elif not (user.is_superuser and user.is_active):
        user.is_superuser = user.is_staff = user.is_active = True
        user.save()
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def machine_info() -> dict:
    from django.conf import settings

    import redis

    cpu_model, pg_version = cpu_model_name(), postgres_version()
    try:
        redis_version = redis.Redis.from_url(settings.REDIS_URL).info("server")["redis_version"]
    except Exception as exc:  # noqa: BLE001
        redis_version = f"unknown ({exc})"
    return {
        "hostname": socket.gethostname(),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgresql": pg_version,
        "redis": redis_version,
        "loadavg_at_start": list(os.getloadavg()),
    }


def _fmt(v, nd=0):
    if v is None:
        return "-"
    return f"{v:.{nd}f}"


def print_table(results: list[dict], summary: dict) -> None:
    head = (f"{'rate/s':>7} {'count':>6} {'emit/s':>7} {'recv/s':>7} {'p50':>7} {'p95':>7} {'p99':>7} "
            f"{'max':>7} {'lost':>5} {'dup':>4} {'pre':>4} {'ev/fr':>6}  cpu% worker/daphne/pg/redis/client/other")
    print(head)
    print("-" * len(head))
    for r in results:
        lat = r["latency_ms"]
        c = r["cpu_pct"]
        cpu = "/".join(_fmt(c.get(k)) for k in ("worker", "daphne", "postgres", "redis", "client", "other"))
        print(f"{r['requested_rate']:>7g} {r['count']:>6} {_fmt(r['emitted_rate']):>7} {_fmt(r['received_rate']):>7} "
              f"{_fmt(lat.get('p50'), 1):>7} {_fmt(lat.get('p95'), 1):>7} {_fmt(lat.get('p99'), 1):>7} "
              f"{_fmt(lat.get('max'), 1):>7} {r['lost']:>5} {r['duplicates']:>4} {r['emitted_before_connect']:>4} "
              f"{_fmt(r['events_per_frame'], 1):>6}  {cpu}{'  TIMED OUT' if r['timed_out'] else ''}{'  (noisy)' if r.get('noisy') else ''}")
    print("latency in ms (receive time - emission time), events emitted after the websocket connected;"
          " pre = events emitted before it connected (delivered by replay)")
    top = " (every rate tried passed: the ceiling is at least this)" if summary["sustained_is_highest_rate_tried"] else ""
    print(f"sustained: {summary['sustained_rate']} events/s{top} (received within 5% of requested, p99 < "
          f"{summary['sustained_p99_bound_ms']:g} ms, nothing lost, every lower rate passing too)")
    t = summary["target"]
    print(f"target ({t['description']}): {'MET' if t['met'] else 'NOT MET'}"
          f" - sustained {summary['sustained_rate']}/s, p99 at {t['latency_rate']:g}/s = "
          f"{_fmt(t['p99_at_latency_rate_ms'], 1)} ms, lost {t['lost_total']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "live_progress.json"))
    parser.add_argument("--rates", default=os.environ.get("BENCH_RATES", DEFAULT_RATES),
                        help=f"comma-separated events/s (default {DEFAULT_RATES})")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 5)),
                        help="emission time per rate; count = rate * seconds (default 5)")
    parser.add_argument("--min-count", type=int, default=500)
    parser.add_argument("--max-count", type=int, default=16000)
    parser.add_argument("--run-timeout", type=float, default=90, help="seconds before a run is cancelled")
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("AIMATRIX_WORKER_CONCURRENCY", 2)))
    parser.add_argument("--daphne-port", type=int, default=int(os.environ.get("BENCH_DAPHNE_PORT", 0)))
    parser.add_argument("--quiet-pct", type=float, default=25.0,
                        help="before each rate, wait until other processes use less than this %% of a core")
    parser.add_argument("--quiet-wait", type=float, default=10.0, help="at most this many seconds (0: do not wait)")
    parser.add_argument("--noisy-retries", type=int, default=1,
                        help="run a rate again (at most this many times) when other work disturbed it; the "
                             "quietest attempt is reported")
    parser.add_argument("--budget", type=float, default=150.0,
                        help="after this many seconds of runs, no more quiet waits or retries (keeps the bench short)")
    parser.add_argument("--dump-dir", help="also write every event's [i, seq, t, receive time] per rate here")
    parser.add_argument("--sustained-p99-ms", type=float, default=250.0)
    parser.add_argument("--target-rate", type=float, default=2000.0)
    parser.add_argument("--target-latency-rate", type=float, default=500.0)
    parser.add_argument("--target-p99-ms", type=float, default=100.0)
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r.strip()]

    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        print("live_progress: DATABASE_URL must point at PostgreSQL (run it via scripts/bench.sh)", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")
    import django

    django.setup()
    from django.conf import settings

    # SIGTERM (trap in bench.sh, make interrupted) still stops our children via finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log_dir = Path(settings.VAR_DIR) / "logs"
    pg_dir = os.environ.get("PG_DIR")
    redis_dir = os.environ.get("REDIS_DIR")
    procs: list[processes.Process] = []
    try:
        token = ensure_user_token()
        info = machine_info()
        code = code_info()
        daphne, base_url = start_daphne(log_dir, args.daphne_port)
        procs.append(daphne)
        worker = start_worker(log_dir, args.concurrency)
        procs.append(worker)
        sampler = CpuSampler({
            "worker": lambda: worker.pid,
            "daphne": lambda: daphne.pid,
            "postgres": lambda: _pidfile(Path(pg_dir) / "data" / "postmaster.pid") if pg_dir else None,
            "redis": lambda: _pidfile(Path(redis_dir) / "redis.pid") if redis_dir else None,
            "client": os.getpid,
        })
        api = Api(base_url, token)
        print(f"live_progress: daphne {base_url}, worker pid {worker.pid} (concurrency {args.concurrency}), "
              f"PostgreSQL {info['postgresql']}, Redis {info['redis']}, {info['nproc']} cores, "
              f"load {info['loadavg_at_start']}, code {code['commit']}"
              f"{' + local changes in ' + ', '.join(code['modified_files']) if code['modified_files'] else ''}",
              flush=True)

        # Warm-up (not reported): imports, connections, first-request costs in every process.
        run_rate(api, token, 500, 300, sampler, args.run_timeout)

        results = []
        started = time.monotonic()
        for rate in rates:
            count = int(min(args.max_count, max(args.min_count, round(rate * args.seconds))))
            attempts = []
            while True:
                in_budget = time.monotonic() - started < args.budget
                background = (wait_for_quiet(sampler, args.quiet_pct, args.quiet_wait)
                              if args.quiet_wait > 0 and in_budget else None)
                print(f"live_progress: {rate:g} events/s x {count} (background load {background}% of a core) ...",
                      flush=True)
                dump = Path(args.dump_dir) / f"live_progress-{rate:g}.json" if args.dump_dir else None
                r = run_rate(api, token, rate, count, sampler, args.run_timeout, dump)
                r["background_cpu_pct_before"] = background
                r["noisy"] = r["cpu_pct"]["other"] > args.quiet_pct
                attempts.append(r)
                lat = r["latency_ms"]
                print(f"  emitted {r['emitted_rate']}/s, received {r['received_rate']}/s, p50 {lat.get('p50')} "
                      f"p99 {lat.get('p99')} max {lat.get('max')} ms, lost {r['lost']}, dup {r['duplicates']}, "
                      f"other load {r['cpu_pct']['other']}% of a core{' (noisy)' if r['noisy'] else ''}", flush=True)
                for p in procs:
                    if not p.alive():
                        raise RuntimeError(f"{p.name} died:\n{p.log_tail()}")
                if (not r["noisy"] or len(attempts) > args.noisy_retries
                        or time.monotonic() - started >= args.budget):
                    break
            # Chosen by how quiet the machine was, never by the figures themselves.
            best = min(attempts, key=lambda a: a["cpu_pct"]["other"])
            best["attempts"] = len(attempts)
            best["other_attempts"] = [{"other_cpu_pct": a["cpu_pct"]["other"], "emitted_rate": a["emitted_rate"],
                                       "received_rate": a["received_rate"], "lost": a["lost"],
                                       "p99_ms": a["latency_ms"].get("p99")} for a in attempts if a is not best]
            results.append(best)
    finally:
        for p in reversed(procs):
            p.stop()

    sustained = None
    for r in sorted(results, key=lambda r: r["requested_rate"]):
        if not passes(r, args.sustained_p99_ms):
            break
        sustained = r["requested_rate"]
    at_latency_rate = [r for r in results if r["requested_rate"] == args.target_latency_rate]
    p99_at = at_latency_rate[0]["latency_ms"].get("p99") if at_latency_rate else None
    lost_total = sum(r["lost"] for r in results)
    target_met = bool(sustained is not None and sustained >= args.target_rate and p99_at is not None
                      and p99_at < args.target_p99_ms and lost_total == 0
                      and all(r["duplicates"] == 0 for r in results))
    summary = {
        "sustained_rate": sustained,
        # True: every rate tried passed, so the real ceiling is higher than the ladder goes.
        "sustained_is_highest_rate_tried": bool(results) and sustained == max(r["requested_rate"] for r in results),
        "sustained_p99_bound_ms": args.sustained_p99_ms,
        "target": {
            "description": f"{args.target_rate:g} events/s sustained on {info['nproc']} cores, p99 < "
                           f"{args.target_p99_ms:g} ms at {args.target_latency_rate:g} events/s, nothing lost",
            "rate": args.target_rate,
            "latency_rate": args.target_latency_rate,
            "p99_bound_ms": args.target_p99_ms,
            "p99_at_latency_rate_ms": p99_at,
            "lost_total": lost_total,
            "met": target_met,
        },
    }
    report = {
        "benchmark": "live_progress",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": info,
        "code": code,
        "config": {
            "rates": rates, "seconds_per_rate": args.seconds, "min_count": args.min_count,
            "max_count": args.max_count, "worker_concurrency": args.concurrency, "job_kind": "core.pulse",
            "quiet_pct": args.quiet_pct, "quiet_wait_s": args.quiet_wait, "noisy_retries": args.noisy_retries,
            "sustained_rule": f"emitted and received >= 95% of requested, p99 < {args.sustained_p99_ms:g} ms, "
                              "nothing lost or duplicated, every lower rate passing too",
            "latency": "client receive time.time() - event data.t (worker time.time() at emission); "
                       "latency_ms: events emitted after the websocket handshake; latency_all_ms: every event",
            "received_rate": "unique log events / (last receipt - first emission)",
            "emitted_rate": "job result rate (count / the task's emission loop time)",
            "cpu_pct": "CPU time of each process tree during the run, percent of one core; "
                       "other = rest of the machine (anything not started by this benchmark)",
            "noisy": f"other > {args.quiet_pct:g}% of a core during the run: the figures are disturbed by "
                     "other work on the machine",
        },
        "summary": summary,
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out)
    print()
    print_table(results, summary)
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
