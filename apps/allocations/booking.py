"""Writing bookings without ever booking a GPU twice.

PostgreSQL: placement reads without locks and inserts; the exclusion constraint refuses a row
that overlaps a committed (or concurrently inserted) holding row of the same GPU, and we place
again (a bounded number of times, each attempt in its own savepoint). If every attempt lost a
race, a last attempt runs under a transaction-level advisory lock, so it cannot lose again.
SQLite (the embedded single-process setup): one process lock around placement and insert.
"""
from __future__ import annotations

import contextlib
import threading

from django.db import IntegrityError, connection, transaction

from . import placement
from .models import Allocation, AllocationGpu

RETRIES = 8
ADVISORY_KEY = 0x616C6C6F63  # "alloc"
_local_lock = threading.RLock()


@contextlib.contextmanager
def process_lock():
    """Serialize booking within this process where the database cannot (SQLite)."""
    if connection.vendor == "postgresql":
        yield
    else:
        with _local_lock:
            yield


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
        return None


def book(allocation: Allocation, req: placement.Request) -> list[int]:
    """Book GPUs for the allocation (inside the caller's transaction): their ids, or [] if none fit."""
    if connection.vendor != "postgresql":
        return _try(allocation, req) or []
    for _ in range(RETRIES):
        gpu_ids = _try(allocation, req)
        if gpu_ids is not None:
            return gpu_ids
    return _try(allocation, req, serialized=True) or []


def extend_rows(allocation: Allocation, new_end) -> bool:
    """Move the end of the allocation's holding rows; False when another booking is in the way."""
    try:
        with transaction.atomic():
            AllocationGpu.objects.filter(allocation=allocation, holds=True).update(end=new_end)
        return True
    except IntegrityError:
        return False
