"""Daily partitions of the telemetry series on PostgreSQL (native declarative partitioning).

The parent tables are partitioned BY RANGE (ts), one partition per UTC day, named
`<table>_pYYYYMMDD`. Beat creates GPU_PARTITIONS_AHEAD days ahead and drops partitions wholly
older than GPU_SAMPLE_RETENTION_DAYS (dropping a partition is instant, unlike DELETE). Ingest
also makes sure the days it writes exist, so a late or early batch never fails for want of one.
On SQLite (the embedded database) the series are plain tables and all of this does nothing.
"""
from __future__ import annotations

import datetime as dt
import re
import threading

from django.conf import settings
from django.db import connection, transaction

SERIES_TABLES = {"gpus_gpusample": "gpusample_gpu_ts", "gpus_nodesample": "nodesample_node_ts"}
INDEX_COLUMNS = {"gpus_gpusample": "gpu_id, ts", "gpus_nodesample": "node_id, ts"}
PARTITION_NAME = re.compile(r"^(?P<table>gpus_\w+?)_p(?P<day>\d{8})$")

_known: set[str] = set()  # partitions this process has seen exist (cleared when it drops some)
_lock = threading.Lock()


def partition_series_tables(apps, schema_editor):
    """Migration step: the plain tables Django created become partitioned ones (same columns)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, index in SERIES_TABLES.items():
        schema_editor.execute(f"ALTER TABLE {table} RENAME TO {table}_plain")
        schema_editor.execute(f"CREATE TABLE {table} (LIKE {table}_plain INCLUDING DEFAULTS INCLUDING IDENTITY) "
                              f"PARTITION BY RANGE (ts)")
        schema_editor.execute(f"DROP TABLE {table}_plain")
        # Partitioning needs the partition key in the primary key; ids stay unique (one sequence).
        schema_editor.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id, ts)")
        schema_editor.execute(f"CREATE INDEX {index} ON {table} ({INDEX_COLUMNS[table]})")


def is_partitioned() -> bool:
    return connection.vendor == "postgresql"


def partition_name(table: str, day: dt.date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def existing_partitions(table: str) -> dict[str, dt.date]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s", [table])
        names = [row[0] for row in cursor.fetchall()]
    out = {}
    for name in names:
        match = PARTITION_NAME.match(name)
        if match and match["table"] == table:
            out[name] = dt.datetime.strptime(match["day"], "%Y%m%d").date()
    return out


def ensure_days(days) -> list[str]:
    """Create the partitions of these UTC days in both series where missing; returns those created."""
    if not is_partitioned():
        return []
    days = sorted(set(days))
    created, present = [], {}
    with _lock:
        wanted = {partition_name(table, day) for day in days for table in SERIES_TABLES}
        if not wanted <= _known:
            for table in SERIES_TABLES:
                present.update(existing_partitions(table))
            if not connection.in_atomic_block:  # seen outside a transaction: committed
                _known.update(present)
        for day in days:
            for table in SERIES_TABLES:
                name = partition_name(table, day)
                if name in _known or name in present:
                    continue
                start = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)
                end = start + dt.timedelta(days=1)
                with connection.cursor() as cursor:
                    cursor.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
                                   f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')")
                # Known only once committed: a batch rolled back takes its new partition with it.
                transaction.on_commit(lambda name=name: _known.add(name))
                created.append(name)
    return created


def forget_known() -> None:
    """The cache of existing partitions is per process; tests that drop tables clear it."""
    with _lock:
        _known.clear()


def maintain(today: dt.date | None = None) -> dict:
    """Beat: partitions from today to GPU_PARTITIONS_AHEAD days ahead exist; those wholly older
    than the retention are dropped."""
    if not is_partitioned():
        return {"created": [], "dropped": []}
    today = today or dt.datetime.now(dt.timezone.utc).date()
    created = ensure_days(today + dt.timedelta(days=n) for n in range(settings.GPU_PARTITIONS_AHEAD + 1))
    oldest_kept = today - dt.timedelta(days=settings.GPU_SAMPLE_RETENTION_DAYS)
    dropped = []
    for table in SERIES_TABLES:
        for name, day in sorted(existing_partitions(table).items()):
            if day < oldest_kept:
                with connection.cursor() as cursor:
                    cursor.execute(f"DROP TABLE IF EXISTS {name}")
                dropped.append(name)
    if dropped:
        forget_known()
    return {"created": created, "dropped": dropped}
