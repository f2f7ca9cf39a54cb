"""Writing bookings without ever booking a GPU twice.

PostgreSQL: placement reads without locks and inserts; the exclusion constraint refuses a row
that overlaps a committed (or concurrently inserted) holding row of the same GPU, and we place
again (a bounded number of times, each attempt in its own savepoint; a deadlock between two
bookings waiting on each other's rows counts as a lost race). Then a few attempts under a
transaction-level advisory lock, where only optimistic bookers can still win a race; if even
those lose, the request is answered "busy, try again" (409), never booked twice.
SQLite (the embedded single-process setup): one process lock around placement and insert.
"""
from __future__ import annotations

import contextlib
import threading

from django.db import IntegrityError, OperationalError, connection, transaction

from . import placement
from .models import Allocation, AllocationGpu

RETRIES = 8
SERIALIZED_RETRIES = 4
DEADLOCK = "40P01"
ADVISORY_KEY = 0x616C6C6F63  # "alloc"
PROJECT_LOCK_SPACE = 0x616C6C71  # two-key advisory locks: ("allq", project id)
_local_lock = threading.RLock()


@contextlib.contextmanager
def process_lock():
    """Serialize booking within this process where the database cannot (SQLite)."""
    if connection.vendor == "postgresql":
        yield
    else:
        with _local_lock:
            yield


def project_lock(project) -> None:
    """Serialize quota checks of one project until the transaction ends (PostgreSQL; SQLite has
    the process lock). Only for projects with a quota: others need no check to be exact."""
    if connection.vendor != "postgresql" or not quota_applies(project):
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [PROJECT_LOCK_SPACE, project.pk])


def quota_applies(project) -> bool:
    from .quotas import limits_of

    limits = limits_of(project)
    return limits.concurrent_gpus is not None or limits.gpu_hours_per_month is not None


def _advisory_lock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_KEY])


def _try(allocation: Allocation, req: placement.Request, *, serialized: bool = False) -> list[int] | None:
    """Place and insert in a savepoint; None when a concurrent booking won a GPU."""
    try:
        with transaction.atomic():
            if serialized:
                _advisory_lock()
            gpu_ids = placement.place(req)
            if gpu_ids:
                AllocationGpu.objects.bulk_create([AllocationGpu(allocation=allocation, gpu_id=g, start=req.start,
                                                                 end=req.end) for g in gpu_ids])
            return gpu_ids
    except IntegrityError:
        return None  # the exclusion constraint: a concurrent booking won a GPU
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == DEADLOCK:
            return None  # two bookings waited on each other's rows; PostgreSQL aborted this one
        raise


def book(allocation: Allocation, req: placement.Request) -> list[int] | None:
    """Book GPUs for the allocation (inside the caller's transaction): their ids, [] if none fit,
    None if every attempt lost a race (the caller answers "busy, try again")."""
    if connection.vendor != "postgresql":
        return _try(allocation, req) or []
    for attempt in range(RETRIES + SERIALIZED_RETRIES):
        # Later attempts queue on one advisory lock: only optimistic bookers can still win a race.
        gpu_ids = _try(allocation, req, serialized=attempt >= RETRIES)
        if gpu_ids is not None:
            return gpu_ids
    return None


def extend_rows(allocation: Allocation, new_end) -> bool:
    """Move the end of the allocation's holding rows; False when another booking is in the way."""
    try:
        with transaction.atomic():
            AllocationGpu.objects.filter(allocation=allocation, holds=True).update(end=new_end)
        return True
    except IntegrityError:
        return False
