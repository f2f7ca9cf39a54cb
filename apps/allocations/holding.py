"""Who holds a GPU now, for apps.gpus.holders: active allocations."""
from __future__ import annotations

from django.utils import timezone

from .models import AllocationGpu
from .states import AllocationState


def gpu_holders(gpu_ids: list[int] | None) -> dict[int, list]:
    from apps.gpus.holders import Holder

    now = timezone.now()
    rows = (AllocationGpu.objects.filter(holds=True, allocation__state=AllocationState.ACTIVE, start__lte=now,
                                         end__gt=now)
            .select_related("allocation__project", "allocation__requester"))
    if gpu_ids is not None:
        rows = rows.filter(gpu_id__in=gpu_ids)
    out: dict[int, list] = {}
    for row in rows:
        allocation = row.allocation
        out.setdefault(row.gpu_id, []).append(Holder(
            kind="allocation",
            label=f"allocation {allocation.pk} {allocation.project.name} ({allocation.requester.username}) "
                  f"until {allocation.end:%Y-%m-%d %H:%M}",
            url=allocation.get_absolute_url(), since=row.start))
    return out
