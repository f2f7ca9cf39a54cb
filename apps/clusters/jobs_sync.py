"""Queue sync: a cluster's jobs and node states into the portal, incrementally, over one SSH
connection per cluster per cycle.

One cycle runs `squeue --states=all` (the client's queue(): every job slurmctld still holds, ended
ones within MinJobAge too; a tenth of the parse time of `scontrol show job -d` and a seventh of its
bytes), asks `scontrol show job -d` only for running GPU jobs whose GPU indexes the portal does
not know yet (squeue prints none; bounded per cycle), and upserts: new jobs are bulk-created,
changed ones bulk-updated (only the changed rows), unchanged ones are not written. Then
`scontrol show node` on the same connection gives the nodes' states, the cluster's summary and
a chart sample (apps/clusters/discovery.observe_nodes). Jobs that left slurmctld
get their final state from `sacct` when the cluster keeps accounting; without accounting they
end as UNKNOWN (the portal cannot know how they ended). Jobs not submitted through the portal are
mapped to a project by their Slurm account (ProjectAccount).

`sync_all()` is the beat task's body: every cluster in parallel (bounded), each with its own
deadline; one failing cluster is reported and never blocks the others.
"""
from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor, wait

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.db.models import Q
from django.utils import timezone
from psycopg.types.json import Jsonb

from apps.core.bulk_copy import insert_new

from . import connection
from .models import ACTIVE_JOB_STATES, Cluster, ProjectAccount, SlurmJob, SlurmJobState
from .slurm import SshSlurm
from .slurm.errors import SlurmError
from .slurm.records import JobState

logger = logging.getLogger(__name__)

# Columns a sync owns (what Slurm says); the portal's own (submitted_by, project, script,
# gpu_efficiency) are never overwritten by a sync.
SYNCED = ("name", "user", "account", "partition", "qos", "state", "reason", "exit_code", "nodes", "num_nodes",
          "cpus", "memory_mb", "gpus", "gpu_indexes", "time_limit_min", "submitted_at", "started_at", "ended_at",
          "stdout_path", "work_dir")
_GPU_INDEXES = SYNCED.index("gpu_indexes")
# What squeue does not print: kept from the row (the submit or a job-detail read filled them in).
DETAIL_ONLY = ("stdout_path", "work_dir", "exit_code")
_DETAIL_ONLY = tuple(SYNCED.index(name) for name in DETAIL_ONLY)
WAITING_FOR_ACCOUNTING = "left the queue; waiting for accounting (sacct)"
BATCH = 1_000
FINALIZE_BATCH = 200  # GPU efficiency summaries stored per cycle at most


_MODEL_STATES = frozenset(SlurmJobState.values)


def _state(state: JobState) -> str:
    """The client's job state -> the model's (states the model does not list read as the nearest)."""
    value = state.value
    if value in _MODEL_STATES:
        return value
    if value in ("CONFIGURING", "RESIZING", "SIGNALING", "STAGE_OUT"):
        return SlurmJobState.RUNNING
    if value in ("REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"):
        return SlurmJobState.PENDING
    if value == "STOPPED":
        return SlurmJobState.SUSPENDED
    if value == "SPECIAL_EXIT":
        return SlurmJobState.FAILED
    if value == "REVOKED":
        return SlurmJobState.CANCELLED
    return SlurmJobState.UNKNOWN


def aware(moment: dt.datetime | None) -> dt.datetime | None:
    """Slurm prints the cluster's local time without a zone; the portal's zone is taken as it."""
    if moment is None or timezone.is_aware(moment):
        return moment
    return timezone.make_aware(moment)


def _clip(value: str, size: int) -> str:
    return (value or "")[:size]


def fields_of(job) -> dict:
    """A client Job (scontrol) -> SlurmJob column values."""
    state = _state(job.state)
    started = aware(job.start_time) if state != SlurmJobState.PENDING else None
    finished = state not in ACTIVE_JOB_STATES
    return {
        "name": _clip(job.name, 200), "user": _clip(job.user, 64), "account": _clip(job.account, 64),
        "partition": _clip(job.partition, 63), "qos": _clip(job.qos, 63), "state": state,
        "reason": _clip("" if job.reason == "None" else job.reason, 300), "exit_code": _clip(job.exit_code, 16),
        "nodes": list(job.nodes), "num_nodes": max(job.num_nodes or 0, 0), "cpus": max(job.cpus or 0, 0),
        "memory_mb": max(job.memory_mb or 0, 0), "gpus": max(job.gpus, 0),
        "gpu_indexes": {node: sorted(int(i) for i in idx) for node, idx in (job.gpu_indexes or {}).items()},
        "time_limit_min": job.time_limit_minutes, "submitted_at": aware(job.submit_time), "started_at": started,
        "ended_at": aware(job.end_time) if finished else None, "stdout_path": _clip(job.stdout_path, 500),
        "work_dir": _clip(job.work_dir, 500),
    }


def acct_fields_of(row) -> dict:
    """A sacct row of a job that left the queue -> its final columns (what sacct knows)."""
    state = _state(row.state)
    values = {"state": state, "exit_code": _clip(row.exit_code, 16), "submitted_at": aware(row.submit_time),
              "started_at": aware(row.start_time), "ended_at": aware(row.end_time), "reason": ""}
    if row.nodes:
        values["nodes"] = list(row.nodes)
    if state in ACTIVE_JOB_STATES:  # sacct still calls it running: the controller lost it
        values.update(state=SlurmJobState.UNKNOWN, reason="left the queue while sacct still shows it active")
    return values


def has_accounting(cluster: Cluster) -> bool:
    kind = str((cluster.config_snapshot or {}).get("AccountingStorageType", "")).lower()
    return bool(kind) and not kind.endswith("/none")


def project_by_account(cluster: Cluster) -> dict[str, int]:
    return dict(ProjectAccount.objects.filter(cluster=cluster).values_list("account", "project_id"))


def _known_rows(cluster: Cluster, job_ids: list[str]) -> list[tuple]:
    """(pk, job_id, project_id, synced_at, *SYNCED) of the cluster's rows that are in the queue
    now or were active: one query (on PostgreSQL the ids travel as one array parameter)."""
    columns = ("pk", "job_id", "project_id", "synced_at", *SYNCED)
    rows = SlurmJob.objects.filter(cluster=cluster)
    if connections[rows.db].vendor == "postgresql":
        rows = rows.extra(where=["(job_id = ANY(%s) OR state = ANY(%s))"],  # noqa: S610 - fixed SQL, bound values
                          params=[job_ids, list(ACTIVE_JOB_STATES)])
    else:
        rows = rows.filter(Q(job_id__in=job_ids) | Q(state__in=ACTIVE_JOB_STATES))
    return list(rows.values_list(*columns))


def _row(cluster: Cluster, known: tuple) -> SlurmJob:
    """A model instance carrying exactly the loaded columns (enough for bulk_update)."""
    pk, job_id, project_id, synced_at, *synced = known
    return SlurmJob(pk=pk, cluster=cluster, job_id=job_id, project_id=project_id, synced_at=synced_at,
                    **dict(zip(SYNCED, synced)))


def apply_queue(cluster: Cluster, jobs: list, *, client=None, now: dt.datetime | None = None) -> dict:
    """Upsert `jobs` (client Job records: the whole queue slurmctld holds) into the cluster's rows;
    settle the active rows that are no longer in it. Returns counts and the rows that ended now.
    Unchanged jobs cost a tuple comparison: no model instance, no write."""
    now = now or timezone.now()
    incoming = {}
    for job in jobs:
        incoming[job.job_id[:32]] = job
    projects = project_by_account(cluster)
    existing, gone_rows = {}, []
    for known in _known_rows(cluster, list(incoming)):
        if known[1] in incoming:
            existing[known[1]] = known
        else:
            gone_rows.append(known)
    created, changed, ended = [], [], []
    for job_id, job in incoming.items():
        values = fields_of(job)
        known = existing.get(job_id)
        if known is None:
            project_id = projects.get(values["account"])
            created.append((job_id, project_id, values))
            if values["state"] not in ACTIVE_JOB_STATES:
                ended.append(SlurmJob(cluster=cluster, job_id=job_id, project_id=project_id, synced_at=now,
                                      **values))
            continue
        project_id = known[2] or projects.get(values["account"])
        held = known[4 + _GPU_INDEXES]
        if held and not values["gpu_indexes"] and values["state"] != SlurmJobState.PENDING:
            # A completing or finished job's record may no longer list them (squeue never does):
            # keep what it held (a requeued job, pending again, gets its GPUs anew).
            values["gpu_indexes"] = held
        for name, index in zip(DETAIL_ONLY, _DETAIL_ONLY):
            if not values[name] and known[4 + index]:
                values[name] = known[4 + index]
        if tuple(values[name] for name in SYNCED) == tuple(known[4:]) and project_id == known[2]:
            continue
        row = _row(cluster, known)
        was_active = row.state in ACTIVE_JOB_STATES
        for name, value in values.items():
            setattr(row, name, value)
        row.project_id, row.synced_at = project_id, now
        changed.append(row)
        if was_active and row.state not in ACTIVE_JOB_STATES:
            ended.append(row)
    gone = [_row(cluster, known) for known in gone_rows if known[4 + SYNCED.index("state")] in ACTIVE_JOB_STATES]
    settled = _settle_gone(cluster, gone, client=client, now=now)
    ended += [row for row in settled if row.state not in ACTIVE_JOB_STATES]
    with transaction.atomic():
        _insert(cluster, created, now)
        if changed:
            SlurmJob.objects.bulk_update(changed, [*SYNCED, "project", "synced_at"], batch_size=BATCH)
        if settled:
            SlurmJob.objects.bulk_update(settled, ["state", "exit_code", "submitted_at", "started_at", "ended_at",
                                                   "reason", "nodes", "synced_at"], batch_size=BATCH)
        _store_queue_length(cluster, sum(1 for j in incoming.values() if _state(j.state) in ACTIVE_JOB_STATES), now)
    fresh = [row.job_id for row in ended if row.pk is None and row.gpu_indexes]
    if fresh:  # rows inserted without their keys coming back: read the few that need one
        ended = [row for row in ended if row.pk is not None] + list(
            SlurmJob.objects.filter(cluster=cluster, job_id__in=fresh))
    return {"seen": len(incoming), "created": len(created), "updated": len(changed), "settled": len(settled),
            "ended": ended}


# Inserted columns: what a sync knows, plus the portal's own columns at their defaults.
INSERTED = ("cluster_id", "job_id", "project_id", "synced_at", *SYNCED, "script", "gpu_efficiency")


def _insert(cluster: Cluster, created: list[tuple], now) -> None:
    """New jobs, skipping any a submit stored between the read and now. On PostgreSQL through COPY
    (10,000 rows in a fraction of bulk_create's time), elsewhere bulk_create."""
    if not created:
        return
    if connections[SlurmJob.objects.db].vendor == "postgresql":
        json_columns = {"nodes", "gpu_indexes"}
        rows = [(cluster.pk, job_id, project_id, now,
                 *(Jsonb(values[name]) if name in json_columns else values[name] for name in SYNCED), "", Jsonb({}))
                for job_id, project_id, values in created]
        insert_new(SlurmJob._meta.db_table, INSERTED, rows, conflict=("cluster_id", "job_id"))
        return
    SlurmJob.objects.bulk_create([SlurmJob(cluster=cluster, job_id=job_id, project_id=project_id, synced_at=now,
                                           **values) for job_id, project_id, values in created],
                                 batch_size=BATCH, ignore_conflicts=True)


def _settle_gone(cluster: Cluster, gone: list, *, client, now) -> list:
    """Active rows slurmctld no longer holds: their final state from sacct (which records them
    about a second late: a row sacct does not know yet waits, up to SLURM_SYNC_ACCOUNTING_GRACE)."""
    if not gone:
        return []
    final = {}
    if has_accounting(cluster) and client is not None:
        earliest = min((row.submitted_at or now) for row in gone) - dt.timedelta(days=1)
        try:
            for row in client.history(timezone.localtime(earliest).replace(tzinfo=None),
                                      job_ids=[row.job_id for row in gone]):
                final[row.job_id] = row
        except SlurmError as exc:  # the queue itself was read: keep the rows as they are, say why
            logger.warning("queue sync %s: sacct failed: %s", cluster.name, exc)
            return []
    grace = dt.timedelta(seconds=settings.SLURM_SYNC_ACCOUNTING_GRACE)
    settled = []
    for row in gone:
        acct = final.get(row.job_id)
        if acct is not None:
            for name, value in acct_fields_of(acct).items():
                setattr(row, name, value)
        elif has_accounting(cluster) and client is not None and not (
                row.reason == WAITING_FOR_ACCOUNTING and row.synced_at and now - row.synced_at > grace):
            if row.reason == WAITING_FOR_ACCOUNTING:
                continue
            row.reason = WAITING_FOR_ACCOUNTING  # first cycle without it: wait for sacct
        else:
            row.state, row.ended_at = SlurmJobState.UNKNOWN, row.ended_at or now
            row.reason = "left the queue; the cluster keeps no accounting to say how it ended" \
                if not has_accounting(cluster) else "left the queue; sacct does not know it"
        row.synced_at = now
        settled.append(row)
    return settled


def _store_queue_length(cluster: Cluster, length: int, now) -> None:
    locked = Cluster.objects.select_for_update().only("summary").get(pk=cluster.pk)
    summary = dict(locked.summary or {})
    summary["queue_length"] = length
    Cluster.objects.filter(pk=cluster.pk).update(summary=summary, synced_at=now)


def sync_client(cluster: Cluster) -> SshSlurm:
    """The controller's client with the sync deadline (one wall-clock bound per command) and room
    for a large queue's listing."""
    run = connection.runner_for(cluster.controller, purpose="queue sync")
    return SshSlurm(run, timeout=settings.SLURM_SYNC_TIMEOUT, large_output=connection.LARGE_OUTPUT)


def learn_details(cluster: Cluster, jobs: list, client) -> int:
    """Running GPU jobs whose GPU indexes the portal does not know yet: their `scontrol show job
    -d` (indexes, output file, working directory), at most SLURM_SYNC_DETAIL_LIMIT per cycle (the
    rest come next cycle). Returns how many were read."""
    running = [job for job in jobs if job.state == JobState.RUNNING and job.gpus and not job.gpu_indexes]
    if not running:
        return 0
    known = set(SlurmJob.objects.filter(cluster=cluster, job_id__in=[j.job_id for j in running])
                .exclude(gpu_indexes={}).values_list("job_id", flat=True))
    wanted = [job for job in running if job.job_id not in known][:settings.SLURM_SYNC_DETAIL_LIMIT]
    for job in wanted:
        for detail in client.job_details(job.job_id):
            if detail.job_id == job.job_id:
                job.gpu_indexes, job.stdout_path, job.work_dir = (detail.gpu_indexes, detail.stdout_path,
                                                                  detail.work_dir)
    return len(wanted)


def sync_cluster(cluster: Cluster, *, client=None) -> dict:
    """One cycle for one cluster over one connection: the queue (squeue), details of newly running
    GPU jobs, the upsert (sacct only when jobs left slurmctld), then the nodes' states. Ended jobs
    get their GPU efficiency stored."""
    from . import discovery, efficiency

    client = client or sync_client(cluster)
    jobs = client.queue(with_finished=True)
    details = learn_details(cluster, jobs, client)
    result = apply_queue(cluster, jobs, client=client)
    result["details_read"] = details
    ended = {row.pk: row for row in result.pop("ended") if row.pk}
    # Jobs that ended through another path (an action's read-back) and still lack their summary.
    for row in (SlurmJob.objects.filter(cluster=cluster).exclude(state__in=ACTIVE_JOB_STATES)
                .exclude(gpu_indexes={}).exclude(gpu_efficiency__has_key="final").order_by("-id")[:FINALIZE_BATCH]):
        ended.setdefault(row.pk, row)
    result["finalized"] = efficiency.finalize(list(ended.values()))
    try:
        result["nodes_changed"] = discovery.observe_nodes(cluster, client.nodes())
    except SlurmError as exc:  # the queue is stored; the node states wait for the next cycle
        result["nodes_error"] = str(exc)[:300]
    return result


def _sync_one(pk: int) -> tuple[str, dict]:
    close_old_connections()
    try:
        cluster = Cluster.objects.select_related("controller").get(pk=pk)
        try:
            return cluster.name, sync_cluster(cluster)
        except SlurmError as exc:
            logger.warning("queue sync %s: %s", cluster.name, exc)
            return cluster.name, {"error": str(exc)[:300]}
    except Exception as exc:  # noqa: BLE001 - one cluster's bug never stops the others' sync
        logger.exception("queue sync of cluster %s failed", pk)
        return str(pk), {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    finally:
        connections.close_all()


def sync_all(*, concurrency: int | None = None, budget: float | None = None) -> dict:
    """Every cluster, `concurrency` at a time; clusters still running after `budget` seconds are
    reported as late (their thread finishes on its own command deadline)."""
    names = dict(Cluster.objects.values_list("pk", "name"))
    pks = list(names)
    concurrency = concurrency or settings.SLURM_SYNC_CONCURRENCY
    budget = budget or settings.SLURM_SYNC_BUDGET
    if concurrency <= 1:
        return dict(_sync_inline(pk) for pk in pks)
    results = {}
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="queue-sync")
    futures = {pool.submit(_sync_one, pk): pk for pk in pks}
    done, late = wait(futures, timeout=budget)
    for future in done:
        name, result = future.result()
        results[name] = result
    for future in late:
        results[names[futures[future]]] = {"error": f"still running after {budget:g} s"}
    pool.shutdown(wait=False, cancel_futures=True)
    return results


def _sync_inline(pk: int) -> tuple[str, dict]:
    """The same as _sync_one in the caller's thread and connection (tests, one-cluster setups)."""
    cluster = Cluster.objects.select_related("controller").get(pk=pk)
    try:
        return cluster.name, sync_cluster(cluster)
    except SlurmError as exc:
        return cluster.name, {"error": str(exc)[:300]}
