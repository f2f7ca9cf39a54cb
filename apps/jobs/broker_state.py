"""What the Celery broker (Redis) holds for our tasks, read through kombu's own channel.

kombu keeps a task that waits in a Redis list named after its queue; once a worker takes it, the
message moves to the `unacked` hash (with the time in the `unacked_index` sorted set) until the
worker acknowledges it, which happens when the task ends (acks_late). A worker that dies leaves
its messages there until the visibility timeout; `restore` puts one back at the head of its queue
with kombu's own restore (the same one kombu runs at that timeout), so the message is not copied.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reserved:
    tag: str
    task_id: str
    since: float  # Unix time the worker took it


@dataclass
class BrokerState:
    waiting: set[str] = field(default_factory=set)  # task ids waiting in a queue
    reserved: list[Reserved] = field(default_factory=list)  # taken by a worker, not yet acknowledged

    def holds(self, task_id: str) -> bool:
        return task_id in self.waiting or any(r.task_id == task_id for r in self.reserved)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _task_id(message) -> str | None:
    try:
        if isinstance(message, (bytes, str)):
            message = json.loads(message)
        return (message.get("headers") or {}).get("id") or (message.get("properties") or {}).get("correlation_id")
    except (ValueError, AttributeError):
        return None


def _reserved(channel) -> list[Reserved]:
    client = channel.client
    index = client.zrange(channel.unacked_index_key, 0, -1, withscores=True)
    if not index:
        return []
    tags = [_text(tag) for tag, _ in index]
    payloads = client.hmget(channel.unacked_key, tags)
    found = []
    for (tag, since), payload in zip(index, payloads):
        if payload is None:
            continue  # acknowledged between the two reads
        try:
            message = json.loads(payload)[0]
        except (ValueError, IndexError, TypeError):
            continue
        task_id = _task_id(message)
        if task_id:
            found.append(Reserved(_text(tag), task_id, float(since)))
    return found


def read(app, queues) -> BrokerState | None:
    """Task ids waiting in `queues` and those reserved by some worker; None for a broker other
    than Redis. Raises the broker's connection errors."""
    with app.connection_for_write() as conn:
        if conn.transport.driver_type != "redis":
            return None
        channel = conn.default_channel
        state = BrokerState()
        # Reserved before and after the queues: a message moving from a queue to a worker
        # between two reads is seen in one of them.
        before = _reserved(channel)
        for queue in queues:
            for priority in channel.priority_steps:
                for raw in channel.client.lrange(channel._q_for_pri(queue, priority), 0, -1):
                    task_id = _task_id(raw)
                    if task_id:
                        state.waiting.add(task_id)
        after = _reserved(channel)
        state.reserved = list({r.tag: r for r in before + after}.values())
        return state


def restore(app, tag: str) -> None:
    """Put a reserved message back at the head of its queue (kombu's restore_by_tag)."""
    with app.connection_for_write() as conn:
        conn.default_channel.qos.restore_by_tag(tag, leftmost=True)


def held_by_live_workers(app, task_ids, timeout: float) -> set[str]:
    """Which of these tasks a live worker reports as active or reserved."""
    if not task_ids:
        return set()
    replies = app.control.inspect(timeout=timeout).query_task(*task_ids) or {}
    return {task_id for reply in replies.values() for task_id in (reply or {})}
