"""Measurement helpers shared by the node benchmarks: percentiles, CPU time per process tree
from /proc, HTTP request accounting, and what code and machine a result was taken on."""
from __future__ import annotations

import os
import platform
import socket
import statistics
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3.connectionpool
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
NOISY_PCT = 25.0  # other processes above this (% of one core) during a measurement: marked noisy

# --- figures -------------------------------------------------------------------------------------
def pct(values, p):
    values = sorted(values)
    if not values:
        return None
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return round((values[lo] + (values[hi] - values[lo]) * (k - lo)) * 1000, 2)


def summary(latencies, wall):
    return {"commands": len(latencies), "wall_s": round(wall, 3),
            "per_s": round(len(latencies) / wall, 1) if wall else None,
            "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95), "p99_ms": pct(latencies, 99),
            "max_ms": pct(latencies, 100)}


def ms_stats(latencies):
    return {"n": len(latencies), "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
            "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95)}


# --- CPU accounting from /proc ---------------------------------------------------------------------
def _proc_stats() -> dict[int, tuple[int, float, float]]:
    """pid -> (ppid, own cpu seconds, reaped children's cpu seconds)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                raw = fh.read()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        out[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK,
                           (int(fields[13]) + int(fields[14])) / CLK_TCK)
    return out


def _machine_cpu() -> tuple[float, float]:
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK, sum(values[:8]) / CLK_TCK


def _pidfile(path: Path) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class Cpu:
    """CPU seconds of named process trees (several roots each) between start() and stop()."""

    def __init__(self, roots: dict[str, list]):
        self.roots = roots  # name -> [pid or callable returning a pid]; "bench" = this process only

    def _sample(self):
        stats, children = _proc_stats(), defaultdict(list)
        for pid, (ppid, _, _) in stats.items():
            children[ppid].append(pid)
        out = {}
        for name, roots in self.roots.items():
            total = 0.0
            for root in roots:
                root = root() if callable(root) else root
                if root not in stats:
                    continue
                if name == "bench":
                    total += stats[root][1]
                    continue
                todo = [root]
                while todo:  # own time of every live process in the tree + what each one reaped
                    pid = todo.pop()
                    total += stats[pid][1] + stats[pid][2]
                    todo.extend(children.get(pid, []))
            out[name] = total
        return out, _machine_cpu(), time.monotonic()

    def start(self):
        self._before = self._sample()

    def stop(self) -> dict:
        """Percent of one core per component over the interval; 'other' = the rest of the machine."""
        (before, (busy0, total0), t0), (after, (busy1, total1), t1) = self._before, self._sample()
        wall, ours, result = t1 - t0, 0.0, {}
        self.seconds = {}
        for name in before:
            used = max(0.0, after.get(name, 0.0) - before[name])
            ours += used
            self.seconds[name] = used
            result[name] = round(100 * used / wall, 1)
        result["other"] = round(max(0.0, 100 * ((busy1 - busy0) - ours) / wall), 1)
        result["noisy"] = result["other"] > NOISY_PCT
        return result

    def ms_per(self, count: int) -> dict:
        """CPU milliseconds per unit of work (command, poll) of each component, from the last stop()."""
        return {name: round(1000 * used / count, 2) for name, used in self.seconds.items()} if count else {}


def wait_for_quiet(max_wait: float = 8.0) -> float:
    """Wait (at most max_wait s) until the machine uses < NOISY_PCT of a core; returns the last reading."""
    deadline = time.monotonic() + max_wait
    while True:
        busy0, _ = _machine_cpu()
        t0 = time.monotonic()
        time.sleep(0.5)
        busy = 100 * (_machine_cpu()[0] - busy0) / (time.monotonic() - t0)
        if busy < NOISY_PCT or time.monotonic() >= deadline:
            return round(busy, 1)


# --- HTTP accounting (this process only) -------------------------------------------------------------
class HttpTally:
    """Counts and times every requests.Session.send by URL kind, and new TCP connections."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self.times, self.connections = defaultdict(list), 0

    def install(self):
        send, new_conn, tally = requests.Session.send, urllib3.connectionpool.HTTPConnectionPool._new_conn, self

        def counted_send(session, request, **kwargs):
            start = time.perf_counter()
            try:
                return send(session, request, **kwargs)
            finally:
                tally._add(request.method, request.url, time.perf_counter() - start)

        def counted_new_conn(pool):
            with tally._lock:
                tally.connections += 1
            return new_conn(pool)

        requests.Session.send = counted_send
        urllib3.connectionpool.HTTPConnectionPool._new_conn = counted_new_conn

    def _add(self, method, url, seconds):
        path = urlsplit(url).path.rstrip("/")
        if path == "/redfish/v1":
            kind = "service_root"
        elif path == "/redfish/v1/Systems":
            kind = "systems_collection"
        elif path.startswith("/redfish/v1/Systems/") and path.count("/") == 4:
            kind = "system"
        else:
            kind = "other"
        with self._lock:
            self.times[f"{method} {kind}"].append(seconds)

    def snapshot(self) -> dict:
        with self._lock:
            return {"requests": sum(len(v) for v in self.times.values()), "new_connections": self.connections,
                    "by_kind": {k: {**ms_stats(v)} for k, v in sorted(self.times.items())}}


HTTP = HttpTally()



def code_info() -> dict:
    """Which code was measured: the commit, and the files that differed from it."""
    import subprocess

    def git(*argv):
        try:
            return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "HEAD").strip() or None,
            "modified_files": [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
                               if not line[3:].startswith("bench/results/")]}


def cpu_model_name() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def postgres_version() -> str:
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        return cur.fetchone()[0]


def machine_info() -> dict:
    cpu_model, pg_version = cpu_model_name(), postgres_version()
    import paramiko
    import sushy
    versions = {"paramiko": paramiko.__version__, "sushy": getattr(sushy, "__version__", None)}
    try:
        from importlib.metadata import version
        versions["sushy"] = version("sushy")
        versions["sushy-tools"] = version("sushy-tools")
        versions["bcrypt"] = version("bcrypt")
    except Exception:  # noqa: BLE001
        pass
    try:
        import subprocess
        versions["openssh"] = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    except OSError:
        pass
    return {"hostname": socket.gethostname(), "nproc": os.cpu_count(), "cpu_model": cpu_model,
            "python": platform.python_version(), "platform": platform.platform(), "postgresql": pg_version,
            "loadavg_at_start": [round(v, 2) for v in os.getloadavg()], "versions": versions}




# --- results -------------------------------------------------------------------------------------
def write_result(out: str, result: dict) -> int:
    """Write a benchmark's result as JSON to `out` (creating its folder), say where; the exit status."""
    import json

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0
