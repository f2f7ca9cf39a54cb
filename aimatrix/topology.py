"""How many server and worker processes run, and how many PostgreSQL connections they may hold.

Read from the environment (no Django import): settings.py, aimatrix/gunicorn_conf.py, the Procfile
(through scripts/run.sh) and the compose file use the same names and defaults.

    python -m aimatrix.topology          # the figures and the connection budget
    python -m aimatrix.topology --shell  # `export NAME=value` lines for scripts/run.sh
"""
from __future__ import annotations

import os
import sys

from aimatrix.env import env_int

# Celery workers by queue group: slow BMCs (bmc) never hold the slots SSH jobs need (default, ssh).
WORKER_GROUPS = {
    "fast": ("default", "ssh"),
    "bmc": ("bmc",),
    "telemetry": ("slurm", "telemetry"),
}


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def web_workers() -> int:
    """gunicorn sync workers: one request each at a time. 2 per core + 1 is gunicorn's advice,
    capped so a small machine leaves CPU for PostgreSQL and the Celery workers."""
    return env_int("AIMATRIX_WEB_WORKERS", min(2 * _cores() + 1, 5))


def ws_processes() -> int:
    """daphne processes serving /ws/ (each is one event loop; replicas scale it out)."""
    return env_int("AIMATRIX_WS_PROCESSES", 1)


def worker_concurrency(group: str) -> int:
    defaults = {"fast": 2, "bmc": 1, "telemetry": 1}
    return env_int(f"AIMATRIX_WORKER_{group.upper()}_CONCURRENCY", defaults[group])


def pool_min() -> int:
    return env_int("AIMATRIX_DB_POOL_MIN", 1)


def pool_max() -> int:
    return env_int("AIMATRIX_DB_POOL_MAX", 4)


def worker_threads_per_process() -> int:
    """Database connections one Celery child may hold at once: the task's own thread, the job
    runner's log writer and heartbeat threads, and the widest fan-out (SSH or BMC poll threads,
    each with its own connection)."""
    fan_out = max(env_int("AIMATRIX_SSH_FANOUT", 20), env_int("AIMATRIX_POWER_POLL_CONCURRENCY", 16))
    return 3 + fan_out


def connection_budget() -> dict:
    """The most PostgreSQL sessions the whole one-machine topology can hold; PostgreSQL's
    max_connections (minus its 3 reserved for superusers) must be above `total`."""
    web = web_workers() * pool_max()
    ws = ws_processes() * pool_max()
    workers = sum(worker_concurrency(group) for group in WORKER_GROUPS) * worker_threads_per_process()
    beat = 2  # the scheduler and the reconciler it runs
    management = 2  # migrate / a shell / the health check's own
    return {"web": web, "ws": ws, "workers": workers, "beat": beat, "management": management,
            "total": web + ws + workers + beat + management}


def shell_exports() -> str:
    values = {
        "AIMATRIX_WEB_WORKERS": web_workers(),
        "AIMATRIX_WS_PROCESSES": ws_processes(),
        "AIMATRIX_DB_POOL_MIN": pool_min(),
        "AIMATRIX_DB_POOL_MAX": pool_max(),
        **{f"AIMATRIX_WORKER_{g.upper()}_CONCURRENCY": worker_concurrency(g) for g in WORKER_GROUPS},
        **{f"AIMATRIX_WORKER_{g.upper()}_QUEUES": ",".join(q) for g, q in WORKER_GROUPS.items()},
    }
    return "\n".join(f"export {name}={value}" for name, value in values.items())


if __name__ == "__main__":
    if "--shell" in sys.argv[1:]:
        print(shell_exports())
    else:
        budget = connection_budget()
        print(f"web workers {web_workers()} x pool max {pool_max()} = {budget['web']}")
        print(f"daphne {ws_processes()} x pool max {pool_max()} = {budget['ws']}")
        for group, queues in WORKER_GROUPS.items():
            print(f"celery {group} ({','.join(queues)}): concurrency {worker_concurrency(group)}")
        print(f"celery children x {worker_threads_per_process()} connections each = {budget['workers']}")
        print(f"beat {budget['beat']}, management {budget['management']}")
        print(f"total {budget['total']} (PostgreSQL max_connections must be above it, plus 3 reserved)")
