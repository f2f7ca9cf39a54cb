"""Job kinds: each app registers the long operations it offers in its `job_kinds` module, which
its AppConfig.ready() imports (the system's own kinds are in apps/jobs/job_kinds.py).

    @register("core.selfcheck", label="System self-check", permission="jobs.run_selfcheck")
    def selfcheck(runner, params, target): ...

A kind names the permission needed to start it, the serializer that validates its parameters
and the Celery queue it runs on (so slow BMC work never starves fast SSH checks).

Every job runs under a Celery time limit (see `time_limit_for`): the kind's own `time_limit`
(seconds, or a function of the clean parameters), else the job's `deadline` parameter where its
kind has one, else settings.JOBS_TIME_LIMIT; never more than settings.JOBS_MAX_TIME_LIMIT, which
the broker's visibility timeout is sized from.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from django.conf import settings


@dataclass(frozen=True)
class JobKind:
    name: str
    label: str
    handler: Callable
    permission: str
    params_serializer: type | None = None
    queue: str = "default"
    description: str = ""
    # Optional object-level check: authorize(user, clean_params) raises Forbidden/InvalidInput.
    authorize: Callable | None = None
    # Seconds the job may run (or params -> seconds); None: its `deadline` parameter or the default.
    time_limit: float | Callable | None = None


# What a job needs past its own deadline: connecting, the last poll, writing the result.
DEADLINE_MARGIN = 60.0


def time_limit_for(kind: JobKind | None, params: dict | None) -> float:
    """The soft time limit of a job of this kind with these parameters, in seconds."""
    params = params or {}
    limit = None
    if kind is not None and kind.time_limit is not None:
        limit = kind.time_limit(params) if callable(kind.time_limit) else kind.time_limit
    elif isinstance(params.get("deadline"), (int, float)):
        limit = float(params["deadline"]) + DEADLINE_MARGIN
    if not limit or limit <= 0:
        limit = settings.JOBS_TIME_LIMIT
    return float(min(limit, settings.JOBS_MAX_TIME_LIMIT))


_KINDS: dict[str, JobKind] = {}


def register(name: str, *, label: str, permission: str, params=None, queue: str = "default", description: str = "",
             authorize: Callable | None = None, time_limit: float | Callable | None = None):
    if queue not in settings.JOBS_QUEUES:
        raise ValueError(f"job kind {name}: unknown queue {queue!r}")

    def decorator(func):
        if name in _KINDS and _KINDS[name].handler is not func:
            raise ValueError(f"job kind {name} registered twice")
        _KINDS[name] = JobKind(name, label, func, permission, params, queue,
                               description or (func.__doc__ or "").strip(), authorize, time_limit)
        return func

    return decorator


def get_kind(name: str) -> JobKind | None:
    return _KINDS.get(name)


def all_kinds() -> list[JobKind]:
    return sorted(_KINDS.values(), key=lambda k: k.name)
