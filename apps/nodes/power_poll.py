"""Periodic BMC power-state and health poll: the stalest BMCs first, bounded concurrency, one round
at a time, and a node event for every change of state.

The round's budget is a wall-clock deadline (apps/core/deadline.py) that every BMC request runs
under, besides each request's own bound: a BMC that trickles its answer is cut at the earlier
of the two and recorded with the reason, the others are polled meanwhile, and the round returns
within its budget. A lock with an expiry (apps/core/locks.py) keeps rounds from piling up when
one is slow: the next beat finds it held and skips instead of taking another worker slot.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from apps.core import deadline as deadlines
from apps.core import locks

from .models import Bmc, NodeEvent

log = logging.getLogger(__name__)
LOCK = "nodes.poll_power_states"
SKIPPED = "skipped: round budget used up"
STRAGGLER_GRACE_S = 2.0  # a cut request needs a moment to unwind before the round stops waiting for it


def poll_power_states(limit: int | None = None, concurrency: int | None = None, budget_s: float | None = None) -> dict:
    budget_s = budget_s or settings.NODES_POWER_POLL_BUDGET
    try:
        with locks.held(LOCK, ttl_s=budget_s + 2 * STRAGGLER_GRACE_S) as got:
            if not got:
                log.info("BMC poll skipped: the previous round is still running")
                return {"skipped": "another poll round is still running"}
            return _poll_round(limit, concurrency, budget_s)
    except locks.LockUnavailable as exc:
        log.warning("BMC poll skipped: %s", exc)
        return {"skipped": str(exc)}


def _poll_round(limit: int | None, concurrency: int | None, budget_s: float) -> dict:
    from . import remote
    from .bmc import BmcError

    limit = limit or settings.NODES_POWER_POLL_BATCH
    concurrency = concurrency or settings.NODES_POWER_POLL_CONCURRENCY
    started = time.monotonic()
    bmcs = list(Bmc.objects.select_related("node", "credential").order_by(F("polled_at").asc(nulls_first=True))[:limit])

    # Credentials and clients are prepared here, so the pool threads only talk to BMCs and never
    # open database connections of their own.
    prepared = []
    for bmc in bmcs:
        try:
            prepared.append((bmc, remote.bmc_client(bmc.node, "beat nodes.poll_power_states"), ""))
        except remote.NodeUnavailable as exc:
            prepared.append((bmc, None, str(exc)[:300]))

    with deadlines.within(budget_s, "the BMC poll round") as budget:
        def poll(item):
            bmc, client, error = item
            if client is None:
                return bmc, None, error
            with deadlines.use(budget):
                if budget.expired():
                    return bmc, None, SKIPPED
                try:
                    return bmc, client.health(), ""  # one request: power state and health together
                except BmcError as exc:
                    return bmc, None, str(exc)[:300]

        pool = ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(bmcs) or 1)), thread_name_prefix="bmc-poll")
        futures = [pool.submit(poll, item) for item in prepared]
        counts = {"changed": 0, "errors": 0, "skipped": 0}
        try:
            for future in as_completed(futures, timeout=budget.remaining() + STRAGGLER_GRACE_S):
                _record(*future.result(), counts)
        except FuturesTimeout:  # cut requests that did not unwind in time: the next round retries them
            counts["skipped"] += sum(1 for f in futures if not f.done())
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    return {"polled": len(bmcs) - counts["skipped"], "changed": counts["changed"], "errors": counts["errors"],
            "skipped": counts["skipped"], "seconds": round(time.monotonic() - started, 2), "concurrency": concurrency}


def _record(bmc, status, error, counts) -> None:
    if error == SKIPPED:  # not asked: it stays the stalest and goes first next round
        counts["skipped"] += 1
        return
    now = timezone.now()
    if error:
        counts["errors"] += 1
        Bmc.objects.filter(pk=bmc.pk).update(polled_at=now, poll_error=error)
        return
    state, health = status.get("power_state", "unknown"), status.get("health") or ""
    if state != bmc.power_state:
        counts["changed"] += 1
        NodeEvent.objects.create(node=bmc.node, kind="power.changed",
                                 message=f"power {bmc.power_state or 'unknown'} -> {state}",
                                 data={"before": bmc.power_state, "after": state})
    Bmc.objects.filter(pk=bmc.pk).update(power_state=state, health=health, polled_at=now, poll_error="")
