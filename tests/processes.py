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
