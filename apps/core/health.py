"""Checks of the platform's own moving parts, shared by /api/health and the self-check job.

Each check returns a CheckResult; none raises.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone as dt_timezone

import redis
from django.conf import settings
from django.db import connection


@dataclass
class CheckResult:
    name: str
    ok: bool
    message: str
    details: dict = field(default_factory=dict)
    elapsed_ms: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def _timed(name, func) -> CheckResult:
    start = time.perf_counter()
    try:
        ok, message, details = func()
    except Exception as exc:  # noqa: BLE001 - a failing check is a result, not a crash
        ok, message, details = False, f"{type(exc).__name__}: {exc}", {}
    return CheckResult(name, ok, message, details, round((time.perf_counter() - start) * 1000, 2))


def _redis_client():
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1.5, socket_timeout=1.5)


def check_database() -> CheckResult:
    def run():
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        return True, f"{connection.vendor} answers", {"vendor": connection.vendor}

    return _timed("database", run)


def check_redis() -> CheckResult:
    def run():
        client = _redis_client()
        try:
            client.ping()
            version = client.info("server").get("redis_version", "?")
        finally:
            client.close()
        return True, f"redis {version} answers", {"version": version}

    return _timed("redis", run)


class _AllQueuesCovered(Exception):
    """Raised from the reply callback to stop waiting once every queue has a consumer."""


def survey_workers(timeout: float | None = None, stop_when_covered: bool = False) -> dict[str, list[str]]:
    """{worker name: [queues it consumes]}, from one `active_queues` broadcast. Waits `timeout`
    after the last reply (Celery's rule), or stops as soon as every queue of settings.JOBS_QUEUES
    has a consumer when `stop_when_covered` (health probes stay fast while all is well)."""
    from aimatrix.celery import app

    survey: dict[str, list[str]] = {}
    wanted = set(settings.JOBS_QUEUES)

    def on_reply(reply):
        for worker, queues in (reply or {}).items():
            survey[worker] = sorted(q.get("name", "") for q in queues or [])
        if stop_when_covered and wanted <= {q for names in survey.values() for q in names}:
            raise _AllQueuesCovered

    try:
        app.control.inspect(timeout=timeout or settings.HEALTH_WORKER_TIMEOUT, callback=on_reply).active_queues()
    except _AllQueuesCovered:
        pass
    return survey


def _workers_result(survey: dict) -> tuple[bool, str, dict]:
    names = sorted(survey)
    if not names:
        return False, "no Celery worker answered", {"workers": []}
    return True, f"{len(names)} worker(s) answered", {"workers": names}


def _queues_result(survey: dict) -> tuple[bool, str, dict]:
    consumers = {queue: sorted(w for w, queues in survey.items() if queue in queues) for queue in settings.JOBS_QUEUES}
    missing = [queue for queue, workers in consumers.items() if not workers]
    details = {"consumers": consumers, "without_consumer": missing}
    if missing:
        return False, f"no worker consumes the queue(s): {', '.join(missing)}; their jobs wait until one does", details
    return True, f"every queue has a consumer ({', '.join(settings.JOBS_QUEUES)})", details


def check_workers(timeout: float | None = None) -> CheckResult:
    """At least one Celery worker answers."""
    return _timed("worker", lambda: _workers_result(survey_workers(timeout, stop_when_covered=True)))


def check_queues(timeout: float | None = None) -> CheckResult:
    """Every queue jobs run on (settings.JOBS_QUEUES) has a live consumer; names those without."""
    return _timed("queues", lambda: _queues_result(survey_workers(timeout)))


def worker_checks(timeout: float | None = None) -> list[CheckResult]:
    """The worker and queue checks from one broadcast (for /api/health)."""
    start = time.perf_counter()
    try:
        survey, error = survey_workers(timeout, stop_when_covered=True), None
    except Exception as exc:  # noqa: BLE001 - broker unreachable: both checks fail with the reason
        survey, error = {}, f"{type(exc).__name__}: {exc}"
    elapsed = round((time.perf_counter() - start) * 1000, 2)
    results = []
    for name, build in (("worker", _workers_result), ("queues", _queues_result)):
        ok, message, details = build(survey)
        results.append(CheckResult(name, ok and not error, error or message, details, elapsed))
    return results


def check_disk() -> CheckResult:
    def run():
        usage = shutil.disk_usage(settings.VAR_DIR)
        minimum = settings.SELFCHECK_MIN_FREE_BYTES
        details = {"path": str(settings.VAR_DIR), "free_bytes": usage.free, "total_bytes": usage.total,
                   "min_free_bytes": minimum}
        free_gib = usage.free / 2**30
        if usage.free < minimum:
            return False, f"only {free_gib:.2f} GiB free under {settings.VAR_DIR}", details
        return True, f"{free_gib:.1f} GiB free under {settings.VAR_DIR}", details

    return _timed("disk", run)


def check_clock() -> CheckResult:
    """Compare this machine's clock with Redis's (and PostgreSQL's when used): skew breaks
    token expiry, heartbeats and telemetry."""
    def run():
        max_skew = settings.SELFCHECK_MAX_CLOCK_SKEW
        local = time.time()
        client = _redis_client()
        try:
            seconds, micros = client.time()
        finally:
            client.close()
        skews = {"redis": round(seconds + micros / 1e6 - local, 4)}
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                before = time.time()
                cur.execute("SELECT now()")
                db_now = cur.fetchone()[0]
            skews["database"] = round(db_now.timestamp() - before, 4)
        worst = max(skews.values(), key=abs)
        details = {"local_utc": datetime.fromtimestamp(local, dt_timezone.utc).isoformat(), "skew_seconds": skews,
                   "max_skew_seconds": max_skew}
        if abs(worst) > max_skew:
            return False, f"clock skew {worst:+.3f} s exceeds {max_skew} s", details
        return True, f"clocks agree within {abs(worst):.3f} s", details

    return _timed("clock", run)


def health_checks() -> list[CheckResult]:
    return [check_database(), check_redis(), *worker_checks()]
