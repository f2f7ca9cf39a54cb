"""The Redis channel layer, riding out a Redis outage instead of crashing every open websocket.

channels-redis raises from `receive()` when Redis is unreachable, and the consumer listening on
that channel dies with it (daphne: "Exception inside application", the socket closes 1011).
Here the wait for the next message simply lasts until Redis answers again; meanwhile job
sockets are fed from the database by their idle check (apps/jobs/consumers.py).
"""
from __future__ import annotations

import asyncio
import logging

from channels_redis.core import RedisChannelLayer
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)  # then every 2 s


class ResilientRedisChannelLayer(RedisChannelLayer):
    async def receive(self, channel):
        failures = 0
        while True:
            try:
                message = await super().receive(channel)
            except (RedisError, OSError) as exc:
                if failures == 0:
                    log.warning("channel layer: Redis unavailable (%s); waiting for it", type(exc).__name__)
                await asyncio.sleep(RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)])
                failures += 1
                continue
            if failures:
                log.info("channel layer: Redis is back after %d failed reads", failures)
            return message
