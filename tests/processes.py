"""The suite's real processes (Celery workers, daphne) pointed at pytest-django's test database."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

from devtools import processes as base
from devtools.processes import Process, free_port  # noqa: F401  (re-exported: tests use processes.free_port)

LOG_DIR = Path(os.environ.get("AIMATRIX_VAR_DIR", base.ROOT / "var" / "test" / "app")) / "logs"


def test_database_url() -> str:
    db = settings.DATABASES["default"]
    return (f"postgres://{quote(db['USER'], safe='')}:{quote(db['PASSWORD'], safe='')}"
            f"@{db['HOST']}:{db['PORT']}/{db['NAME']}")


def child_env(**overrides) -> dict:
    return base.child_env(**{"DATABASE_URL": test_database_url(), "AIMATRIX_JOB_HEARTBEAT_INTERVAL": "0.5", **overrides})


def start_worker(name: str, queues: str = base.QUEUES, concurrency: int = 2, **env) -> Process:
    return base.start_worker(name, child_env(**env), LOG_DIR, queues=queues, concurrency=concurrency)


def start_daphne(name: str = "daphne", **env) -> tuple[Process, str]:
    return base.start_daphne(name, child_env(**env), LOG_DIR)


def start_gunicorn(name: str = "gunicorn", workers: int = 2, **env) -> tuple[Process, str]:
    return base.start_gunicorn(name, child_env(**env), LOG_DIR, workers=workers)


def only_this_worker_takes(queue: str, name: str) -> list[str]:
    """Other workers of the test run stop consuming `queue` (give them back with
    `consume_again`): a job the test starts must run on the worker it started, with its settings."""
    from aimatrix.celery import app

    queues = {}
    for _ in range(50):  # the new worker answers the broadcast once it is up
        queues = app.control.inspect(timeout=2).active_queues() or {}
        if any(host.startswith(f"{name}@") for host in queues):
            break
    others = [host for host, active in queues.items()
              if not host.startswith(f"{name}@") and any(q["name"] == queue for q in active)]
    for host in others:
        app.control.cancel_consumer(queue, destination=[host], reply=True, timeout=10)
    return others


def consume_again(queue: str, hosts: list[str]) -> None:
    from aimatrix.celery import app

    for host in hosts:
        app.control.add_consumer(queue, destination=[host], reply=True, timeout=10)
