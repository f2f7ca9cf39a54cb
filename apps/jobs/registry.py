"""Job kinds: each app registers the long operations it offers in its `job_kinds` module, which
its AppConfig.ready() imports (the system's own kinds are in apps/jobs/job_kinds.py).

    @register("core.selfcheck", label="System self-check", permission="jobs.run_selfcheck")
    def selfcheck(runner, params, target): ...

A kind names the permission needed to start it, the serializer that validates its parameters
and the Celery queue it runs on (so slow BMC work never starves fast SSH checks).
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


_KINDS: dict[str, JobKind] = {}


def register(name: str, *, label: str, permission: str, params=None, queue: str = "default", description: str = "",
             authorize: Callable | None = None):
    if queue not in settings.JOBS_QUEUES:
        raise ValueError(f"job kind {name}: unknown queue {queue!r}")

    def decorator(func):
        if name in _KINDS and _KINDS[name].handler is not func:
            raise ValueError(f"job kind {name} registered twice")
        _KINDS[name] = JobKind(name, label, func, permission, params, queue,
                               description or (func.__doc__ or "").strip(), authorize)
        return func

    return decorator


def get_kind(name: str) -> JobKind | None:
    return _KINDS.get(name)


def all_kinds() -> list[JobKind]:
    return sorted(_KINDS.values(), key=lambda k: k.name)
