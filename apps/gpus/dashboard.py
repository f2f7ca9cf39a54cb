"""The GPUs' dashboard panel (registered with core's dashboard in GpusConfig.ready()): a heat map of
GPU utilization by node and the GPUs by health, each linking to the filtered list.

Two grouped queries over services.visible_gpus(user), whatever the fleet's size. A node's cell is
the average utilization of its present GPUs' newest samples (Gpu.last_sample); samples older than
metrics.STALE_AFTER do not count, so a node that stopped reporting shows "no data", not old figures.
"""
from __future__ import annotations

from django.db.models import Avg, Count, FloatField, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from apps.core import dashboard
from apps.core.dashboard import PanelOrder

from . import services
from .metrics import STALE_AFTER
from .models import GpuHealth

MAX_CELLS = 400  # nodes drawn in the heat map; the rest are one link to the GPU list
HEAT_STEPS = (20, 40, 60, 80)  # utilization % where the cell's colour changes (legend in the panel)
HEALTH_TONES = {GpuHealth.OK: "ok", GpuHealth.DEGRADED: "bad", GpuHealth.FAILED: "bad", GpuHealth.MAINTENANCE: ""}


def gpu_list_url(**filters) -> str:
    return reverse("gpus:list") + (f"?{urlencode(filters)}" if filters else "")


def heat_level(value) -> str:
    if value is None:
        return "none"
    return str(sum(1 for step in HEAT_STEPS if value >= step))


def gpu_panel(user) -> dict | None:
    gpus = services.visible_gpus(user).select_related(None).order_by()
    fresh = Q(last_sample_at__gte=timezone.now() - STALE_AFTER)
    totals = gpus.aggregate(total=Count("id"), missing=Count("id", filter=Q(present=False)),
                            **{h.value: Count("id", filter=Q(present=True, health=h)) for h in GpuHealth})
    if not totals["total"]:
        return None  # no GPU in sight: the nodes panel already guides to adding nodes
    utilization = Cast(KT("last_sample__utilization_pct"), FloatField())
    rows = list(gpus.filter(present=True).values("node_id", "node__name")
                .annotate(gpus=Count("id"), util=Avg(utilization, filter=fresh),
                          unhealthy=Count("id", filter=Q(health__in=[GpuHealth.DEGRADED, GpuHealth.FAILED])))
                .order_by("node__name")[:MAX_CELLS + 1])
    cells = [{"node": r["node__name"], "url": reverse("nodes:detail", args=[r["node_id"]]), "gpus": r["gpus"],
              "util": r["util"], "level": heat_level(r["util"]), "unhealthy": r["unhealthy"]}
             for r in rows[:MAX_CELLS]]
    health = [{"value": h.value, "label": h.label, "count": totals[h.value], "tone": HEALTH_TONES[h],
               "url": gpu_list_url(health=h.value, present="true")} for h in GpuHealth]
    health.append({"value": "missing", "label": "Missing", "count": totals["missing"],
                   "tone": "bad" if totals["missing"] else "", "url": gpu_list_url(present="false")})
    return {"total": totals["total"], "list_url": gpu_list_url(), "health": health, "cells": cells,
            "more": len(rows) > MAX_CELLS, "steps": HEAT_STEPS}


def register_panels() -> None:
    dashboard.register_panel("gpus.fleet", template="gpus/_dashboard_gpus.html", context=gpu_panel,
                             order=PanelOrder.CAPACITY)
