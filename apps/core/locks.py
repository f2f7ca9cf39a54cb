"""Cluster-wide "at most one at a time" for periodic work: a Redis key set with NX and an expiry.

The expiry frees the lock when its holder dies (a SIGKILLed worker releases nothing); release
deletes the key only if it still holds our token, so a holder that outlived its expiry never
frees somebody else's lock.
"""
from __future__ import annotations

import contextlib
import secrets
from functools import lru_cache

import redis
from django.conf import settings

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class LockUnavailable(Exception):
    """Redis did not answer, so nobody can tell whether the work is already running."""


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


@contextlib.contextmanager
def held(name: str, ttl_s: float):
    """`with held("nodes.power_poll", 60) as got:` got is False when another holder has it."""
    client, key, token = _client(settings.REDIS_URL), f"aimatrix:lock:{name}", secrets.token_hex(16)
    try:
        got = bool(client.set(key, token, nx=True, px=max(1, int(ttl_s * 1000))))
    except redis.RedisError as exc:
        raise LockUnavailable(f"lock {name}: Redis unavailable ({type(exc).__name__})") from None
    try:
        yield got
    finally:
        if got:
            try:
                client.eval(_RELEASE, 1, key, token)
            except redis.RedisError:
                pass  # the expiry frees it
