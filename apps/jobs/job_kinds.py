"""The system's own job kinds: the self-check and the live-progress pulse.

Their names keep the `core.` prefix (the checks are core's, in apps/core/health.py; jobs already
started under these names stay valid) but they are registered here, since core imports no
higher app.
"""
import time

from rest_framework import serializers

from apps.core import health

from .registry import register
from .runner import JobFailed

SELFCHECKS = [
    ("Database", health.check_database),
    ("Redis", health.check_redis),
    ("Celery workers", health.check_workers),
    ("A worker for every queue", health.check_queues),
    ("Disk space under var/", health.check_disk),
    ("Clock", health.check_clock),
]


@register("core.selfcheck", label="System self-check", permission="jobs.run_selfcheck")
def selfcheck(runner, params, target):
    """Checks the database, Redis, the workers and that every queue has one, disk space under var/ and the clock."""
    results = {}
    for index, (label, check) in enumerate(SELFCHECKS):
        runner.step(label, progress=int(index * 100 / len(SELFCHECKS)))
        outcome = check()
        results[outcome.name] = outcome.as_dict()
        runner.log(f"{'PASS' if outcome.ok else 'FAIL'} {label}: {outcome.message}",
                   level="info" if outcome.ok else "error", check=outcome.name, ok=outcome.ok)
    runner.progress(100, "all checks done")
    failed = [name for name, r in results.items() if not r["ok"]]
    if failed:
        raise JobFailed(f"Self-check failed: {', '.join(failed)}.")
    return {"checks": results}


class PulseParams(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=1_000_000, default=100)
    rate = serializers.FloatField(min_value=0.1, max_value=100_000, default=10)


@register("core.pulse", label="Event pulse (diagnostic)", permission="jobs.run_diagnostics", params=PulseParams,
          time_limit=lambda p: p["count"] / p["rate"] + 60)
def pulse(runner, params, target):
    """Emits `count` log events at `rate` per second: exercises and measures the live-progress
    path (worker -> database -> channel layer -> websocket). Honours cancel between events."""
    count, rate = params["count"], params["rate"]
    runner.step(f"Emitting {count} events at {rate:g}/s", progress=0)
    start = time.monotonic()
    every = max(1, count // 100)
    for i in range(1, count + 1):
        due = start + (i - 1) / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        runner.check_cancelled()
        runner.log(f"pulse {i}/{count}", i=i, t=time.time())
        if i % every == 0:
            runner.progress(i * 100 // count)
    elapsed = time.monotonic() - start
    return {"events": count, "seconds": round(elapsed, 3), "rate": round(count / elapsed, 1) if elapsed else None}
