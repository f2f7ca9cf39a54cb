"""Periodic BMC power-state and health poll: the stalest BMCs first, bounded concurrency, a deadline per
round, and a node event for every change of state."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from .models import Bmc, NodeEvent


def poll_power_states(limit: int | None = None, concurrency: int | None = None, budget_s: float | None = None) -> dict:
    from . import remote
    from .bmc import BmcError

    limit = limit or settings.NODES_POWER_POLL_BATCH
    concurrency = concurrency or settings.NODES_POWER_POLL_CONCURRENCY
    budget_s = budget_s or settings.NODES_POWER_POLL_BUDGET
    bmcs = list(Bmc.objects.select_related("node", "credential").order_by(F("polled_at").asc(nulls_first=True))[:limit])
    started = time.monotonic()

    # Credentials and clients are prepared here, so the pool threads only talk to BMCs and never
    # open database connections of their own.
    prepared = []
    for bmc in bmcs:
        try:
            prepared.append((bmc, remote.bmc_client(bmc.node, "beat nodes.poll_power_states"), ""))
        except remote.NodeUnavailable as exc:
            prepared.append((bmc, None, str(exc)[:300]))

    def poll(item):
        bmc, client, error = item
        if client is None:
            return bmc, None, error
        if time.monotonic() - started > budget_s:
            return bmc, None, "skipped: round budget used up"
        try:
            return bmc, client.health(), ""  # one request: power state and health together
        except BmcError as exc:
            return bmc, None, str(exc)[:300]

    changed = errors = 0
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(bmcs) or 1))) as pool:
        for future in as_completed([pool.submit(poll, item) for item in prepared]):
            bmc, status, error = future.result()
            if error.startswith("skipped"):
                continue
            now = timezone.now()
            if error:
                errors += 1
                Bmc.objects.filter(pk=bmc.pk).update(polled_at=now, poll_error=error)
                continue
            state, health = status.get("power_state", "unknown"), status.get("health") or ""
            if state != bmc.power_state:
                changed += 1
                NodeEvent.objects.create(node=bmc.node, kind="power.changed",
                                         message=f"power {bmc.power_state or 'unknown'} -> {state}",
                                         data={"before": bmc.power_state, "after": state})
            Bmc.objects.filter(pk=bmc.pk).update(power_state=state, health=health, polled_at=now, poll_error="")
    return {"polled": len(bmcs), "changed": changed, "errors": errors,
            "seconds": round(time.monotonic() - started, 2), "concurrency": concurrency}
