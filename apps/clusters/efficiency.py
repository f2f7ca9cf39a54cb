"""GPU efficiency per Slurm job: the GPUs the job held joined with their telemetry.

A job's GPUs come from `scontrol show job -d` (SlurmJob.gpu_indexes = {slurm node: [index]}),
mapped to the portal's Gpu rows through ClusterNode.node (the machine) and Gpu.index. Telemetry
is read over the job's life (start..end, or ..now while it runs): raw samples for short spans,
the 1-minute rollup for long ones, so a week-long job reads thousands of rows, not millions.
Finished jobs keep their summary in SlurmJob.gpu_efficiency (final: true); running ones are
computed when asked. No per-job metric series is ever created (no cardinality explosion).

The idle check lists running jobs holding a GPU whose average utilization stayed under
SLURM_IDLE_GPU_UTIL_PCT for the last SLURM_IDLE_GPU_MINUTES, and publishes one event per job
and idle spell (apps/events), so a rule can notify the owner.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db.models import Avg, Count, F, Max, Q, Sum
from django.utils import timezone

from apps.gpus.models import Gpu, GpuRollup1m, GpuSample

from .models import ClusterNode, SlurmJob, SlurmJobState

METRICS = ("util_avg", "util_max", "mem_avg_mib", "mem_max_mib")


def held_gpus(job: SlurmJob) -> list[dict]:
    """The GPUs the job held: [{node, index, gpu (Gpu or None)}] (None: the portal has no GPU row
    at that node and index, e.g. the machine is not registered)."""
    return held_gpus_of([job])[job.pk]


def held_gpus_of(jobs) -> dict[int, list[dict]]:
    """held_gpus for many jobs in two queries."""
    wanted = {(job.cluster_id, node) for job in jobs for node in (job.gpu_indexes or {})}
    machines = {}
    if wanted:
        clusters = {c for c, _ in wanted}
        names = {n for _, n in wanted}
        for cluster_id, name, node_id in ClusterNode.objects.filter(
                cluster_id__in=clusters, slurm_name__in=names, node__isnull=False).values_list(
                "cluster_id", "slurm_name", "node_id"):
            machines[(cluster_id, name)] = node_id
    gpus = {}
    if machines:
        for gpu in Gpu.objects.filter(node_id__in=set(machines.values()), present=True).select_related("node"):
            gpus[(gpu.node_id, gpu.index)] = gpu
    out = {}
    for job in jobs:
        rows = []
        for node, indexes in sorted((job.gpu_indexes or {}).items()):
            node_id = machines.get((job.cluster_id, node))
            for index in indexes:
                rows.append({"node": node, "index": int(index), "gpu": gpus.get((node_id, int(index)))})
        out[job.pk] = rows
    return out


def _window(job: SlurmJob, now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime]:
    """[start, end] of the job's life; Slurm's times are whole seconds, so its end second counts whole."""
    end = now
    if job.ended_at and job.state not in (SlurmJobState.RUNNING, SlurmJobState.SUSPENDED):
        end = job.ended_at + dt.timedelta(seconds=1)
    return job.started_at, min(end, now)


def _stats(gpu_ids: list[int], start: dt.datetime, end: dt.datetime) -> dict[int, dict]:
    """{gpu id: util_avg/util_max/mem_avg_mib/mem_max_mib/samples} over [start, end]."""
    if not gpu_ids or end <= start:
        return {}
    if (end - start).total_seconds() <= settings.SLURM_EFFICIENCY_RAW_HOURS * 3600:
        rows = (GpuSample.objects.filter(gpu_id__in=gpu_ids, ts__gte=start, ts__lte=end).values("gpu_id")
                .annotate(util_avg=Avg("utilization_pct"), util_max=Max("utilization_pct"),
                          mem_avg_mib=Avg("memory_used_mib"), mem_max_mib=Max("memory_used_mib"),
                          samples=Count("id")).order_by())
        return {row.pop("gpu_id"): row for row in rows}
    # Long jobs: minute rollups, averages weighted by each minute's sample count.
    rows = (GpuRollup1m.objects.filter(gpu_id__in=gpu_ids, bucket__gte=start.replace(second=0, microsecond=0),
                                       bucket__lte=end).values("gpu_id")
            .annotate(util_w=Sum(F("utilization_pct_avg") * F("samples")),
                      util_n=Sum("samples", filter=Q(utilization_pct_avg__isnull=False)),
                      mem_w=Sum(F("memory_used_mib_avg") * F("samples")),
                      mem_n=Sum("samples", filter=Q(memory_used_mib_avg__isnull=False)),
                      util_max=Max("utilization_pct_max"), mem_max_mib=Max("memory_used_mib_max"),
                      samples=Sum("samples")).order_by())
    out = {}
    for row in rows:
        out[row["gpu_id"]] = {"util_avg": row["util_w"] / row["util_n"] if row["util_n"] else None,
                              "util_max": row["util_max"],
                              "mem_avg_mib": row["mem_w"] / row["mem_n"] if row["mem_n"] else None,
                              "mem_max_mib": row["mem_max_mib"], "samples": row["samples"] or 0}
    return out


def _round(value):
    return None if value is None else round(float(value), 1)


def compute(job: SlurmJob, *, now: dt.datetime | None = None, held: list | None = None) -> dict:
    """Per-GPU and overall utilization and memory of the GPUs the job held, over its life."""
    now = now or timezone.now()
    held = held_gpus(job) if held is None else held
    start, end = _window(job, now)
    known = [h["gpu"].pk for h in held if h["gpu"] is not None]
    stats = _stats(known, start, end) if start else {}
    gpus, weighted = [], defaultdict(float)
    counts = defaultdict(int)
    maxima = {}
    for h in held:
        gpu = h["gpu"]
        row = {"node": h["node"], "index": h["index"], "gpu_id": gpu.pk if gpu else None,
               "uuid": gpu.uuid if gpu else "", "model": gpu.model if gpu else "",
               "memory_total_mib": gpu.memory_total_mib if gpu else None, "samples": 0,
               **{m: None for m in METRICS}}
        found = stats.get(gpu.pk) if gpu else None
        if found:
            row.update({m: _round(found[m]) for m in METRICS}, samples=found["samples"] or 0)
            for metric in ("util", "mem"):
                avg = found[f"{metric}_avg" if metric == "util" else "mem_avg_mib"]
                if avg is not None:
                    weighted[metric] += avg * row["samples"]
                    counts[metric] += row["samples"]
            for m in ("util_max", "mem_max_mib"):
                if found[m] is not None:
                    maxima[m] = max(maxima.get(m, found[m]), found[m])
        gpus.append(row)
    overall = {"util_avg": _round(weighted["util"] / counts["util"]) if counts["util"] else None,
               "util_max": _round(maxima.get("util_max")),
               "mem_avg_mib": _round(weighted["mem"] / counts["mem"]) if counts["mem"] else None,
               "mem_max_mib": _round(maxima.get("mem_max_mib")),
               "samples": sum(g["samples"] for g in gpus), "gpus": len(gpus),
               "gpus_without_telemetry": sum(1 for g in gpus if not g["samples"])}
    source = "samples" if not start or (end - start).total_seconds() <= settings.SLURM_EFFICIENCY_RAW_HOURS * 3600 \
        else "rollup_1m"
    return {"gpus": gpus, "overall": overall, "start": start.isoformat() if start else None,
            "end": end.isoformat() if start else None, "source": source, "computed_at": now.isoformat(),
            "final": job.state not in (SlurmJobState.PENDING, SlurmJobState.RUNNING, SlurmJobState.SUSPENDED,
                                       SlurmJobState.COMPLETING, SlurmJobState.REQUEUED)}


def efficiency(job: SlurmJob, *, now: dt.datetime | None = None) -> dict:
    """The stored summary of a finished job, else computed now (running jobs: live)."""
    if job.gpu_efficiency.get("final") and "overall" in job.gpu_efficiency:
        return job.gpu_efficiency
    if not job.gpu_indexes:
        return {"gpus": [], "overall": None, "final": False, "note": "the job holds no GPUs"}
    return compute(job, now=now)


def finalize(jobs) -> int:
    """Store the summary of jobs that just ended (those that held GPUs)."""
    jobs = [job for job in jobs if job.gpu_indexes and job.pk]
    if not jobs:
        return 0
    held = held_gpus_of(jobs)
    for job in jobs:
        summary = compute(job, held=held[job.pk])
        summary["final"] = True
        job.gpu_efficiency = summary
    SlurmJob.objects.bulk_update(jobs, ["gpu_efficiency"], batch_size=500)
    return len(jobs)


def idle_gpu_jobs(jobs_queryset, *, now: dt.datetime | None = None) -> list[dict]:
    """Running jobs (of `jobs_queryset`) holding a GPU that averaged under the idle threshold for the
    whole last SLURM_IDLE_GPU_MINUTES: [{job, idle: [gpu rows], minutes}]. A GPU without telemetry
    in the window is not called idle (no data is not evidence)."""
    now = now or timezone.now()
    minutes = settings.SLURM_IDLE_GPU_MINUTES
    since = now - dt.timedelta(minutes=minutes)
    jobs = list(jobs_queryset.filter(state=SlurmJobState.RUNNING, gpus__gt=0, started_at__lte=since)
                .select_related("cluster", "submitted_by", "project"))
    held = held_gpus_of(jobs)
    gpu_ids = [h["gpu"].pk for rows in held.values() for h in rows if h["gpu"] is not None]
    stats = _stats(gpu_ids, since, now)
    threshold = settings.SLURM_IDLE_GPU_UTIL_PCT
    out = []
    for job in jobs:
        idle = []
        for h in held[job.pk]:
            found = stats.get(h["gpu"].pk) if h["gpu"] else None
            if found and found["util_avg"] is not None and found["util_avg"] < threshold:
                idle.append({"node": h["node"], "index": h["index"], "gpu_id": h["gpu"].pk,
                             "util_avg": _round(found["util_avg"]), "util_max": _round(found["util_max"])})
        if idle:
            out.append({"job": job, "idle": idle, "minutes": minutes, "held": len(held[job.pk])})
    return out


def publish_idle(*, now: dt.datetime | None = None) -> int:
    """Beat: one event per idle job and idle spell (the mark is cleared when it works again)."""
    from apps.events.models import EventType, Severity
    from apps.events.publish import publish

    now = now or timezone.now()
    found = idle_gpu_jobs(SlurmJob.objects.all(), now=now)
    idle_ids = {item["job"].pk for item in found}
    published = 0
    for item in found:
        job = item["job"]
        if job.gpu_efficiency.get("idle_event_at"):
            continue
        gpus = ", ".join(f"{g['node']}/gpu{g['index']} {g['util_avg']}%" for g in item["idle"])
        owner = job.submitted_by
        publish(EventType.SLURM_JOB_GPUS_IDLE, job,
                f"Slurm job {job.cluster.name}:{job.job_id} ({job.user}) holds {len(item['idle'])} of "
                f"{item['held']} GPU(s) under {settings.SLURM_IDLE_GPU_UTIL_PCT:g} % for {item['minutes']} min: {gpus}",
                data={"cluster": job.cluster.name, "job_id": job.job_id, "slurm_user": job.user,
                      "account": job.account, "owner": owner.username if owner else None,
                      "owner_email": owner.email if owner else None, "idle": item["idle"],
                      "minutes": item["minutes"]}, severity=Severity.WARNING)
        SlurmJob.objects.filter(pk=job.pk).update(gpu_efficiency={**job.gpu_efficiency,
                                                                  "idle_event_at": now.isoformat()})
        published += 1
    # Jobs that work again (or stopped): the next idle spell publishes anew.
    stale = SlurmJob.objects.filter(state=SlurmJobState.RUNNING, gpu_efficiency__has_key="idle_event_at") \
        .exclude(pk__in=idle_ids)
    for job in stale.only("pk", "gpu_efficiency"):
        rest = {k: v for k, v in job.gpu_efficiency.items() if k != "idle_event_at"}
        SlurmJob.objects.filter(pk=job.pk).update(gpu_efficiency=rest)
    return published


def gpu_holders(gpu_ids: list[int] | None) -> dict[int, list]:
    """The GPUs running Slurm jobs hold now, for apps.gpus.holders (the allocated filter, GPU pages)."""
    from apps.gpus.holders import Holder

    jobs = list(SlurmJob.objects.filter(state=SlurmJobState.RUNNING).exclude(gpu_indexes={})
                .select_related("cluster"))
    out: dict[int, list] = {}
    held = held_gpus_of(jobs)
    for job in jobs:
        for row in held[job.pk]:
            gpu = row["gpu"]
            if gpu is None or (gpu_ids is not None and gpu.pk not in gpu_ids):
                continue
            out.setdefault(gpu.pk, []).append(Holder(
                kind="slurm job", label=f"{job.cluster.name}:{job.job_id} {job.name} ({job.user})".strip(),
                url=job.get_absolute_url(), since=job.started_at))
    return out
