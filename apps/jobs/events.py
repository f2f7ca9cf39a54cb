"""Append an event to a job: one atomic statement assigns the next sequence number, updates the
job's progress/step and stores the event; then the event is published live."""
from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from .broadcast import publisher
from .models import Job, JobEvent

_JOB = Job._meta.db_table
_EVENT = JobEvent._meta.db_table

_PG_SQL = f"""
WITH s AS (
    UPDATE {_JOB} SET event_seq = event_seq + 1,
        progress = COALESCE(%s, progress), current_step = COALESCE(%s, current_step)
    WHERE id = %s RETURNING event_seq
)
INSERT INTO {_EVENT} (job_id, seq, timestamp, kind, message, host, data)
SELECT %s, s.event_seq, %s, %s, %s, %s, %s::jsonb FROM s RETURNING seq
"""


def append_event(
    job_id: int,
    kind: str,
    message: str = "",
    *,
    host: str = "",
    data: dict | None = None,
    progress: int | None = None,
    step: str | None = None,
    publish: bool = True,
) -> dict:
    """Persist one event (and optionally the job's new progress/current step); return it."""
    now = timezone.now()
    data = data or {}
    payload = json.dumps(data, cls=DjangoJSONEncoder)
    if step is not None:
        step = step[:200]
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(_PG_SQL, [progress, step, job_id, job_id, now, kind, message, host, payload])
            row = cur.fetchone()
        if row is None:
            raise Job.DoesNotExist(f"job {job_id} does not exist")
        seq = row[0]
    else:
        seq = _append_portable(job_id, now, kind, message, host, data, progress, step)
    event = {
        "seq": seq,
        "ts": now.isoformat(),
        "kind": kind,
        "message": message,
        "host": host,
        "data": json.loads(payload),
    }
    if publish:
        publisher.publish(job_id, event)
    return event


def _append_portable(job_id, now, kind, message, host, data, progress, step) -> int:
    """Same as the PostgreSQL statement, as a short transaction (SQLite takes a write lock)."""
    from django.db.models import F

    updates = {"event_seq": F("event_seq") + 1}
    if progress is not None:
        updates["progress"] = progress
    if step is not None:
        updates["current_step"] = step
    with transaction.atomic():
        if not Job.objects.filter(pk=job_id).update(**updates):
            raise Job.DoesNotExist(f"job {job_id} does not exist")
        seq = Job.objects.values_list("event_seq", flat=True).get(pk=job_id)
        JobEvent.objects.create(job_id=job_id, seq=seq, timestamp=now, kind=kind, message=message, host=host, data=data)
    return seq


_PG_BATCH_SQL = f"""
WITH s AS (UPDATE {_JOB} SET event_seq = event_seq + %(n)s WHERE id = %(job)s RETURNING event_seq)
INSERT INTO {_EVENT} (job_id, seq, timestamp, kind, message, host, data)
SELECT %(job)s, s.event_seq - %(n)s + t.ord, t.ts, t.kind, t.message, t.host, t.data::jsonb
FROM s, unnest(%(ts)s::timestamptz[], %(kind)s::text[], %(message)s::text[], %(host)s::text[], %(data)s::text[])
     WITH ORDINALITY AS t(ts, kind, message, host, data, ord)
RETURNING seq
"""


def append_events(job_id: int, events: list[dict], *, publish: bool = True) -> list[dict]:
    """Persist several events of one job in one statement (sequence numbers stay contiguous and
    in list order). Each event: kind, message, host, data, ts (a datetime)."""
    if not events:
        return []
    payloads = [json.dumps(e.get("data") or {}, cls=DjangoJSONEncoder) for e in events]
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(_PG_BATCH_SQL, {
                "n": len(events), "job": job_id, "ts": [e["ts"] for e in events],
                "kind": [e["kind"] for e in events], "message": [e.get("message", "") for e in events],
                "host": [e.get("host", "") for e in events], "data": payloads,
            })
            seqs = sorted(row[0] for row in cur.fetchall())
        if not seqs:
            raise Job.DoesNotExist(f"job {job_id} does not exist")
    else:
        with transaction.atomic():
            seqs = [_append_portable(job_id, e["ts"], e["kind"], e.get("message", ""), e.get("host", ""),
                                     e.get("data") or {}, None, None) for e in events]
    stored = []
    for seq, event, payload in zip(seqs, events, payloads):
        message = {"seq": seq, "ts": event["ts"].isoformat(), "kind": event["kind"],
                   "message": event.get("message", ""), "host": event.get("host", ""), "data": json.loads(payload)}
        stored.append(message)
        if publish:
            publisher.publish(job_id, message)
    return stored


def events_after(job_id: int, after: int = 0, limit: int | None = None) -> list[dict]:
    qs = JobEvent.objects.filter(job_id=job_id, seq__gt=after).order_by("seq")
    if limit:
        qs = qs[:limit]
    return [e.as_message() for e in qs]
