"""Publish persisted job events to the job's Channels group.

A worker emits events from synchronous code; calling the async channel layer per event via
async_to_sync would build an event loop each time. Instead one daemon thread per process owns a
loop and drains a queue in order, sending whatever has piled up as one batch. Events are already
in the database when they are queued here, so a lost publish is repaired by the consumer (it
fetches gaps from the database); publishing is best effort by design.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import defaultdict

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

MAX_BATCH = 200


def group_name(job_id: int) -> str:
    return f"job.{job_id}"


class _Publisher:
    def __init__(self):
        self._lock = threading.Lock()
        self._pid = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0

    def _ensure_started(self):
        # Re-create after fork: a prefork child inherits the object but not the thread.
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            ready = threading.Event()
            self._pending = 0
            self._idle.set()
            thread = threading.Thread(target=self._run, args=(ready,), name="job-event-publisher", daemon=True)
            thread.start()
            ready.wait(5)
            self._pid = os.getpid()

    def _run(self, ready: threading.Event):
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._queue = asyncio.Queue()
        ready.set()
        self._loop.run_until_complete(self._drain())

    async def _drain(self):
        layer = get_channel_layer()
        while True:
            first = await self._queue.get()
            items = [first]
            while not self._queue.empty() and len(items) < MAX_BATCH:
                items.append(self._queue.get_nowait())
            by_job: dict[int, list[dict]] = defaultdict(list)
            for job_id, event in items:
                by_job[job_id].append(event)
            for job_id, events in by_job.items():
                try:
                    await layer.group_send(group_name(job_id), {"type": "job.events", "events": events})
                except Exception:  # noqa: BLE001 - best effort; consumers repair gaps
                    logger.warning("could not publish %d event(s) of job %s", len(events), job_id, exc_info=True)
            with self._lock:
                self._pending -= len(items)
                if self._pending == 0:
                    self._idle.set()

    def publish(self, job_id: int, event: dict) -> None:
        self._ensure_started()
        with self._lock:
            self._pending += 1
            self._idle.clear()
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (job_id, event))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far has been handed to the channel layer."""
        if self._pid != os.getpid():
            return True
        return self._idle.wait(timeout)


publisher = _Publisher()
