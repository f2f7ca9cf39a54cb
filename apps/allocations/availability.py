"""Free GPUs over a window as a user may see them: per node (nodes they may see) and fleet-wide
totals per model (placement draws from the whole fleet)."""
from __future__ import annotations

from apps.core.errors import InvalidInput
from django.db.models import Q

from apps.gpus.models import Gpu
from apps.nodes.models import Node
from apps.rbac.permissions import restrict

from . import placement

MAX_WINDOW_DAYS = 366


def summary(user, start, end, model: str = "") -> dict:
    if end <= start:
        raise InvalidInput({"end": ["The end must come after the start."]})
    if (end - start).days > MAX_WINDOW_DAYS:
        raise InvalidInput({"end": [f"At most {MAX_WINDOW_DAYS} days."]})
    visible = restrict(Gpu.objects.all(), user, "view").values("pk")
    nodes = placement.availability(start, end, model, gpu_ids=visible)
    totals: dict[str, dict] = {}
    for row in placement.availability_by_model(start, end, model):
        totals[row["model"]] = {"model": row["model"], "free": row["free"], "total": row["total"]}
    return {"start": start.isoformat(), "end": end.isoformat(), "model": model,
            "models": list(totals.values()), "nodes": nodes}


def usable_nodes(user):
    """Nodes a request may name: those the user sees, directly or through their GPUs."""
    return Node.objects.filter(Q(pk__in=restrict(Node.objects.all(), user, "view").values("pk"))
                               | Q(pk__in=restrict(Gpu.objects.all(), user, "view").values("node_id")))
