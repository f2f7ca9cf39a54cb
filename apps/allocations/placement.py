"""Placement: which concrete GPUs an allocation gets.

Candidates are present GPUs with health ok that satisfy the request's constraints; a candidate is
free when no holding AllocationGpu row of it overlaps the window [start, end). Best fit: with all
GPUs on one node, the node with the fewest free GPUs that still fits (a partly used node before a
whole free one, so whole nodes stay free for whole-node requests); spread over nodes (when
allowed and no single node fits), the fullest nodes first so the fewest nodes are touched.
When nothing fits, `explain()` names the constraint that failed and, when only the window is the
problem, the earliest start at which the request would fit.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Aggregate, CharField, Count, Q

from apps.gpus.models import Gpu, GpuHealth

from .models import AllocationGpu

EARLIEST_TRIES = 64  # end times of overlapping bookings tried as later starts


@dataclass(frozen=True)
class Request:
    gpu_count: int
    start: dt.datetime
    end: dt.datetime
    gpu_model: str = ""
    min_memory_mib: int | None = None
    spread_allowed: bool = False
    cluster_id: int | None = None
    partition_id: int | None = None
    node_ids: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()
    exclude_gpu_ids: tuple[int, ...] = ()  # e.g. the failed GPU a replacement is for
    ignore_allocation_id: int | None = None  # an allocation's own bookings (extend)

    @property
    def duration(self) -> dt.timedelta:
        return self.end - self.start


@dataclass
class Outcome:
    gpu_ids: list[int] = field(default_factory=list)
    field: str = ""  # the constraint that failed
    reason: str = ""
    earliest_start: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        return bool(self.gpu_ids)


# --- candidates -----------------------------------------------------------------------------------
def _healthy() -> Q:
    return Q(present=True, health=GpuHealth.OK)


def _constraint_steps(req: Request) -> list[tuple[str, Q, str]]:
    """(field, filter, what it means) for each constraint the request sets, in the order they are
    blamed when nothing fits."""
    steps = []
    if req.gpu_model:
        steps.append(("gpu_model", Q(model__icontains=req.gpu_model), f"GPU model containing {req.gpu_model!r}"))
    if req.min_memory_mib:
        steps.append(("min_memory_mib", Q(memory_total_mib__gte=req.min_memory_mib),
                      f"at least {req.min_memory_mib} MiB memory"))
    if req.cluster_id:
        steps.append(("cluster", Q(node__cluster_member__cluster_id=req.cluster_id), "in the chosen cluster"))
    if req.partition_id:
        steps.append(("partition", Q(node_id__in=_partition_node_ids(req.partition_id)), "in the chosen partition"))
    if req.node_ids:
        steps.append(("nodes", Q(node_id__in=list(req.node_ids)), "on the chosen nodes"))
    if req.labels:
        steps.append(("labels", Q(pk__in=_labelled_gpu_ids(req.labels)), f"labelled {', '.join(req.labels)}"))
    return steps


def _partition_node_ids(partition_id: int) -> list[int]:
    from apps.clusters.models import ClusterNode, Partition

    partition = Partition.objects.filter(pk=partition_id).values("cluster_id", "nodes").first()
    if not partition:
        return []
    return list(ClusterNode.objects.filter(cluster_id=partition["cluster_id"], slurm_name__in=partition["nodes"] or [],
                                           node__isnull=False).values_list("node_id", flat=True))


def _labelled_gpu_ids(labels) -> list[int]:
    """GPUs carrying every label, on the GPU or on its node (JSON lists: matched here, portably)."""
    wanted = set(labels)
    rows = Gpu.objects.filter(_healthy()).values_list("pk", "labels", "node__labels")
    return [pk for pk, own, node in rows if wanted <= set(own or []) | set(node or [])]


def _busy(req: Request, start: dt.datetime, end: dt.datetime):
    rows = AllocationGpu.objects.filter(holds=True, start__lt=end, end__gt=start)
    if req.ignore_allocation_id:
        rows = rows.exclude(allocation_id=req.ignore_allocation_id)
    return rows.values("gpu_id")


def candidates(req: Request):
    qs = Gpu.objects.filter(_healthy())
    for _, q, _ in _constraint_steps(req):
        qs = qs.filter(q)
    if req.exclude_gpu_ids:
        qs = qs.exclude(pk__in=list(req.exclude_gpu_ids))
    return qs


# --- best fit -------------------------------------------------------------------------------------
class FreeIds(Aggregate):
    """The ids of a group's rows as "1,2,3" (with filter=: only those rows), on PostgreSQL and SQLite."""

    function = "STRING_AGG"
    template = "%(function)s(CAST(%(expressions)s AS text), ',')"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra):
        clone = self.copy()
        clone.function, clone.template = "GROUP_CONCAT", "%(function)s(%(expressions)s)"
        return clone.as_sql(compiler, connection, **extra)


def _per_node(req: Request, start, end) -> dict[int, tuple[int, str]]:
    """{node id: (candidate GPUs, "ids,of,free,candidates")} for nodes with a free candidate: one
    query, so the GPUs picked are those counted (no second read another booking could change)."""
    busy = Q(pk__in=_busy(req, start, end))
    # No ORDER BY (the model's would join nodes), no HAVING (it would run the busy subquery twice).
    rows = (candidates(req).order_by().values("node_id")
            .annotate(total=Count("pk"), free=FreeIds("pk", filter=~busy)).values_list("node_id", "total", "free"))
    return {node: (total, free) for node, total, free in rows if free}


def choose_nodes(per_node: list[tuple[int, int, int]], count: int, spread: bool) -> dict[int, int] | None:
    """{node id: GPUs to take} by best fit, or None. per_node: (node id, free, candidate GPUs).
    Pure: the bench and tests call it directly."""
    fitting = [row for row in per_node if row[1] >= count]
    if fitting:
        # Fewest free GPUs that fit; among equals a node already in use, then the lowest id (stable).
        node, _, _ = min(fitting, key=lambda r: (r[1], r[1] == r[2], r[0]))
        return {node: count}
    if not spread:
        return None
    take, need = {}, count
    for node, free, total in sorted(per_node, key=lambda r: (-r[1], r[1] == r[2], r[0])):
        take[node] = min(free, need)
        need -= take[node]
        if need == 0:
            return take
    return None


def place(req: Request, start: dt.datetime | None = None, end: dt.datetime | None = None) -> list[int]:
    """GPU ids for the request in [start, end) (default: its own window), or [] when none fit."""
    start, end = start or req.start, end or req.end
    nodes = _per_node(req, start, end)
    # Free GPUs counted from the id lists' commas; only the chosen nodes' lists are parsed.
    chosen = choose_nodes([(node, free.count(",") + 1, total) for node, (total, free) in nodes.items()],
                          req.gpu_count, req.spread_allowed)
    if not chosen:
        return []
    picked = [gpu for node, n in chosen.items() for gpu in sorted(map(int, nodes[node][1].split(",")))[:n]]
    return sorted(picked)  # ascending ids: concurrent inserts wait on each other in one order


# --- why not --------------------------------------------------------------------------------------
def explain(req: Request) -> Outcome:
    """Why the request does not fit now: the first constraint that leaves too few GPUs at all,
    or the window (with the earliest start that fits, from the ends of the bookings in the way)."""
    qs = Gpu.objects.filter(_healthy()).exclude(pk__in=list(req.exclude_gpu_ids))
    total = qs.count()
    if total < req.gpu_count:
        return Outcome(field="gpu_count", reason=f"only {total} healthy GPUs exist; {req.gpu_count} requested")
    for name, q, meaning in _constraint_steps(req):
        qs = qs.filter(q)
        found = qs.count()
        if found < req.gpu_count:
            return Outcome(field=name, reason=f"only {found} healthy GPUs are {meaning}; {req.gpu_count} requested")
    if not req.spread_allowed:
        biggest = max((row["n"] for row in qs.values("node_id").annotate(n=Count("pk"))), default=0)
        if biggest < req.gpu_count:
            return Outcome(field="spread_allowed",
                           reason=f"no node has {req.gpu_count} such GPUs (at most {biggest}); allow spreading")
    earliest = earliest_start(req)
    when = f"; the earliest start that fits is {earliest:%Y-%m-%d %H:%M} UTC" if earliest else ""
    return Outcome(field="start", earliest_start=earliest,
                   reason=f"the matching GPUs are booked during the window{when}")


def earliest_start(req: Request) -> dt.datetime | None:
    """The earliest later start (an end time of a booking of a candidate GPU) at which the
    request fits for its whole duration."""
    ends = (AllocationGpu.objects.filter(holds=True, end__gt=req.start, gpu__in=candidates(req))
            .order_by("end").values_list("end", flat=True).distinct()[:EARLIEST_TRIES])
    for start in ends:
        if place(req, start, start + req.duration):
            return start
    return None


def availability(start: dt.datetime, end: dt.datetime, model: str = "", gpu_ids=None) -> list[dict]:
    """Free healthy GPUs over [start, end) by node and model: [{node, node_name, model, free, total}]."""
    req = Request(gpu_count=1, start=start, end=end, gpu_model=model)
    qs = candidates(req)
    if gpu_ids is not None:
        qs = qs.filter(pk__in=gpu_ids)
    busy = Q(pk__in=_busy(req, start, end))
    rows = (qs.values("node_id", "node__name", "model").annotate(total=Count("pk"), free=Count("pk", filter=~busy))
            .order_by("node__name", "model"))
    return [{"node": r["node_id"], "node_name": r["node__name"], "model": r["model"], "free": r["free"],
             "total": r["total"]} for r in rows]


def availability_by_model(start: dt.datetime, end: dt.datetime, model: str = "") -> list[dict]:
    req = Request(gpu_count=1, start=start, end=end, gpu_model=model)
    busy = Q(pk__in=_busy(req, start, end))
    rows = candidates(req).values("model").annotate(total=Count("pk"), free=Count("pk", filter=~busy)).order_by("model")
    return [{"model": r["model"], "free": r["free"], "total": r["total"]} for r in rows]
