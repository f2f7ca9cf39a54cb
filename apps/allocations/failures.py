"""A GPU that fails during an allocation: flagged to its holder with a proposed replacement (a
placement of one GPU with the allocation's constraints for the rest of its window)."""
from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from apps.events.models import EventType, Severity
from apps.events.publish import publish
from apps.gpus.models import GpuHealth

from . import placement
from .models import Allocation, AllocationGpu

MAX_FLAGS = 20
logger = logging.getLogger(__name__)


def propose_replacement(allocation: Allocation, failed_gpu_id: int, now) -> dict:
    from .services import request_of

    held = tuple(AllocationGpu.objects.filter(allocation=allocation).values_list("gpu_id", flat=True))
    start = max(now, allocation.start)
    req = request_of(allocation, gpu_count=1, start=start, spread_allowed=True,
                     exclude_gpu_ids=held + (failed_gpu_id,))
    ids = placement.place(req)
    if ids:
        return {"replacement": ids[0], "reason": ""}
    outcome = placement.explain(req)
    return {"replacement": None, "reason": outcome.reason}


def on_gpu_health_changed(sender, gpu, before: str, after: str, reason: str, **kwargs) -> None:
    """Runs after the health change committed, in whatever ingested it: a failure here is logged,
    never passed on to the telemetry path."""
    if after != GpuHealth.FAILED:
        return
    try:
        flag_holders(gpu, reason)
    except Exception:  # noqa: BLE001
        logger.exception("allocations: could not flag the holders of failed GPU %s", gpu.pk)


def flag_holders(gpu, reason: str) -> None:
    now = timezone.now()
    rows = AllocationGpu.objects.filter(gpu_id=gpu.pk, holds=True, end__gt=now).select_related("allocation")
    for row in rows:
        with transaction.atomic():
            allocation = Allocation.objects.select_for_update().get(pk=row.allocation_id)
            proposal = propose_replacement(allocation, gpu.pk, now)
            flag = {"gpu": gpu.pk, "gpu_name": str(gpu), "reason": reason[:300], "at": now.isoformat(), **proposal}
            allocation.flags = (list(allocation.flags) + [flag])[-MAX_FLAGS:]
            allocation.save(update_fields=["flags", "updated_at"])
            offer = f"; proposed replacement: GPU {proposal['replacement']}" if proposal["replacement"] \
                else f"; no replacement: {proposal['reason']}"
            publish(EventType.ALLOCATION_GPU_FAILED, allocation, f"{gpu} of {allocation} failed ({reason}){offer}"[:500],
                    {"allocation": allocation.pk, "gpu": gpu.pk, "requester": allocation.requester_id, **proposal},
                    severity=Severity.WARNING, at=now)
