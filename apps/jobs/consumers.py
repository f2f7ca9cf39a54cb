"""Websocket /ws/jobs/<id>/?after=N: replay stored events after N, then stream live ones.

No gap and no duplicate: the consumer joins the job's group *before* reading the database, keeps
the last sequence number it sent, drops anything at or below it and fetches any hole from the
database (events are stored before they are published). While the job is active and nothing
arrives for a while, it also checks the database, so even a lost publish is delivered.

The channel layer (Redis) is a speed-up, not a precondition: if joining the group fails (Redis
down or just restarted), the socket is still accepted and served from the database by that idle
check, which also retries the join until live delivery is back.
"""
from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qs

from redis.exceptions import RedisError

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import services
from .broadcast import group_name
from .events import events_after
from .models import Job

log = logging.getLogger(__name__)
IDLE_RESYNC_SECONDS = 3.0
_LAYER_ERRORS = (RedisError, OSError)
REPLAY_PAGE = 2000


class JobEventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        self.last_seq = _after(self.scope)
        self.lock = asyncio.Lock()
        self.watchdog = None
        user = self.scope.get("user")
        if not user or not user.is_authenticated or not await self._may_view(user):
            # Closing before accept() refuses the handshake with HTTP 403; not logged in, no such
            # job and not allowed look the same on purpose.
            await self.close()
            return
        self.group, self.joined = group_name(self.job_id), False
        await self._join()
        await self.accept()
        async with self.lock:
            await self._catch_up()
        self.watchdog = asyncio.ensure_future(self._resync_while_idle())

    async def disconnect(self, code):
        if self.watchdog:
            self.watchdog.cancel()
        if getattr(self, "joined", False):
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except _LAYER_ERRORS:
                pass  # the group entry expires on its own

    async def _join(self) -> None:
        """Join the job's group for live events; on a channel-layer failure carry on from the database."""
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
        except _LAYER_ERRORS as exc:
            log.warning("job %s websocket: channel layer unavailable (%s); serving from the database",
                        self.job_id, type(exc).__name__)
            return
        self.joined = True

    async def receive_json(self, content, **kwargs):
        # Clients may ask to resume from a sequence number (e.g. after their own reconnect logic).
        if isinstance(content, dict) and content.get("action") == "resync":
            async with self.lock:
                await self._catch_up()

    async def job_events(self, message):
        async with self.lock:
            fresh = [e for e in message["events"] if e["seq"] > self.last_seq]
            if not fresh:
                return
            if fresh[0]["seq"] != self.last_seq + 1 or _has_hole(fresh):
                await self._catch_up()
                return
            await self._send(fresh)

    async def _catch_up(self):
        while True:
            events = await database_sync_to_async(events_after)(self.job_id, self.last_seq, REPLAY_PAGE)
            if events:
                await self._send(events)
            if len(events) < REPLAY_PAGE:
                return

    async def _send(self, events):
        self.last_seq = events[-1]["seq"]
        self._last_activity = asyncio.get_running_loop().time()
        await self.send_json({"type": "events", "job": self.job_id, "events": events})

    async def _resync_while_idle(self):
        loop = asyncio.get_running_loop()
        self._last_activity = loop.time()
        while True:
            await asyncio.sleep(IDLE_RESYNC_SECONDS)
            if not self.joined:
                await self._join()  # joined before the catch-up below: nothing falls in between
            elif loop.time() - self._last_activity < IDLE_RESYNC_SECONDS:
                continue
            active = await self._job_active()  # read before catching up, so nothing ends unseen
            async with self.lock:
                await self._catch_up()
            if not active:
                return

    @database_sync_to_async
    def _may_view(self, user) -> bool:
        return services.visible_jobs(user).filter(pk=self.job_id).exists()

    @database_sync_to_async
    def _job_active(self) -> bool:
        return Job.objects.filter(pk=self.job_id, status__in=["queued", "running"]).exists()


def _after(scope) -> int:
    try:
        return max(0, int(parse_qs(scope.get("query_string", b"").decode()).get("after", ["0"])[0]))
    except ValueError:
        return 0


def _has_hole(events) -> bool:
    return any(b["seq"] != a["seq"] + 1 for a, b in zip(events, events[1:]))
