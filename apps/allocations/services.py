"""Allocation services: request (placement + quota -> approved or pending), approve, reject,
extend, release, cancel. Pages, API, admin and beat tasks all call these: each checks the
permission, validates, and writes exactly one audit entry."""
from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.core.audit import record_audit
from apps.core.errors import Conflict, Forbidden, InvalidInput, ServiceError
from apps.rbac.permissions import can, may_act_in_project, restrict

from . import booking, placement, quotas, transitions
from .models import Allocation, AllocationGpu
from .signals import allocation_extended
from .states import HOLDING, AllocationState as S

MAX_GPUS = 512
MAX_DURATION = dt.timedelta(days=366)
MAX_LABELS = 16
MAX_NODES = 256


class NoFit(ServiceError):
    """No GPUs fit: names the constraint that failed and, when only the window is busy, the
    earliest start that fits."""

    status = 409

    def __init__(self, outcome: placement.Outcome):
        super().__init__(outcome.reason, field=outcome.field)
        self.outcome = outcome

    def as_dict(self) -> dict:
        body = {self.field: [self.message]}
        if self.outcome.earliest_start:
            body["earliest_start"] = self.outcome.earliest_start.isoformat()
        return body


def visible_allocations(user, action: str = "view"):
    return restrict(Allocation.objects.all(), user, action).select_related("project", "requester")


def snapshot(allocation: Allocation) -> dict:
    return {"state": allocation.state, "gpu_count": allocation.gpu_count, "start": allocation.start.isoformat(),
            "end": allocation.end.isoformat(), "project": allocation.project_id,
            "gpus": sorted(AllocationGpu.objects.filter(allocation=allocation).values_list("gpu_id", flat=True))}


def request_of(allocation: Allocation, **changes) -> placement.Request:
    node_ids = changes.pop("node_ids", None)
    if node_ids is None:
        node_ids = tuple(allocation.nodes.values_list("pk", flat=True)) if allocation.pk else ()
    values = dict(gpu_count=allocation.gpu_count, start=allocation.start, end=allocation.end,
                  gpu_model=allocation.gpu_model, min_memory_mib=allocation.min_memory_mib,
                  spread_allowed=allocation.spread_allowed, cluster_id=allocation.cluster_id,
                  partition_id=allocation.partition_id, node_ids=tuple(node_ids), labels=tuple(allocation.labels))
    values.update(changes)
    return placement.Request(**values)


# --- validation --------------------------------------------------------------------------------------
def _window(start, end, duration_hours, now) -> tuple[dt.datetime, dt.datetime]:
    start = start or now
    if start < now - dt.timedelta(minutes=5):
        raise InvalidInput({"start": ["The start lies in the past."]})
    if end is None and duration_hours is None:
        raise InvalidInput({"end": ["Give an end or a duration."]})
    if end is None:
        if duration_hours <= 0:
            raise InvalidInput({"duration_hours": ["The duration must be positive."]})
        end = start + dt.timedelta(hours=float(duration_hours))
    if end <= start:
        raise InvalidInput({"end": ["The end must come after the start."]})
    if end - start > MAX_DURATION:
        raise InvalidInput({"end": [f"At most {MAX_DURATION.days} days per allocation."]})
    return start, end


def _requester(user, requester):
    """Who the allocation is for: yourself; operators (who may act in any project) for anyone."""
    if requester is None or requester == user:
        return user
    if not (user.is_superuser or user.has_perm("rbac.unrestricted")):
        raise Forbidden("You may request allocations for yourself only.", field="user_id")
    return requester


def _validate(user, project, gpu_count, labels, nodes, cluster, partition):
    if project is None:
        raise InvalidInput({"project": ["Choose the project the GPUs are for."]})
    if not may_act_in_project(user, Allocation, project, "add"):
        raise Forbidden(f"You may not request allocations for project {project}.", field="project")
    if not 1 <= gpu_count <= MAX_GPUS:
        raise InvalidInput({"gpu_count": [f"Between 1 and {MAX_GPUS} GPUs."]})
    if len(labels) > MAX_LABELS or any(not isinstance(x, str) or not x or len(x) > 100 for x in labels):
        raise InvalidInput({"labels": [f"At most {MAX_LABELS} labels of 1-100 characters."]})
    if len(nodes) > MAX_NODES:
        raise InvalidInput({"nodes": [f"At most {MAX_NODES} nodes."]})
    if partition is not None and cluster is not None and partition.cluster_id != cluster.pk:
        raise InvalidInput({"partition": [f"Partition {partition.name} is not in cluster {cluster.name}."]})


# --- request ----------------------------------------------------------------------------------------
def request_allocation(user, *, project, gpu_count: int, start=None, end=None, duration_hours=None,
                       gpu_model: str = "", min_memory_mib=None, spread_allowed: bool = False, cluster=None,
                       partition=None, nodes=(), labels=(), purpose: str = "", requester=None) -> Allocation:
    """Book GPUs for the window: auto-approved within the project's quota, otherwise pending (or
    refused, where the project's quota says so). 409 (NoFit) when no GPUs fit."""
    now = timezone.now()
    labels, nodes = list(labels or []), list(nodes or [])
    _validate(user, project, gpu_count, labels, nodes, cluster, partition)
    start, end = _window(start, end, duration_hours, now)
    requester = _requester(user, requester)
    allocation = Allocation(project=project, requester=requester, gpu_count=gpu_count, gpu_model=gpu_model.strip(),
                            min_memory_mib=min_memory_mib, spread_allowed=spread_allowed, cluster=cluster,
                            partition=partition, labels=labels, start=start, end=end, purpose=purpose[:500],
                            state=S.PENDING, state_changed_at=now)
    req = request_of(allocation, node_ids=tuple(n.pk for n in nodes))
    with booking.process_lock(), transaction.atomic():
        # Two requests of one project must not both pass its quota: checked and booked one at a time.
        booking.project_lock(project)
        excess = quotas.check(project, gpu_count, start, end)
        if excess and excess.refuse:
            raise InvalidInput({excess.field: [f"Refused: {excess.message}."]})
        allocation.approval_reason = excess.message[:300] if excess else ""
        allocation.save()
        if nodes:
            allocation.nodes.set(nodes)
        booked = booking.book(allocation, req)
        if booked is None:
            raise Conflict("Many requests compete for these GPUs right now; try again.", field="gpu_count")
        if not booked:
            raise NoFit(placement.explain(req))
        path = [S.PENDING]
        if not excess:
            transitions.move(allocation, S.APPROVED, actor=user, note="within quota", at=now)
            path.append(S.APPROVED)
            if start <= now:
                transitions.move(allocation, S.ACTIVE, actor=user, at=now)
                path.append(S.ACTIVE)
        record_audit("allocations.request", actor=user, obj=allocation,
                     after={**snapshot(allocation), "path": path, "approval_reason": allocation.approval_reason})
    return allocation


# --- decisions ---------------------------------------------------------------------------------------
def _check(user, allocation, action: str, verb: str) -> None:
    if not can(user, allocation, action):
        raise Forbidden(f"You may not {verb} this allocation.")


def approve(user, allocation: Allocation, comment: str = "") -> Allocation:
    _check(user, allocation, "approve", "approve")
    now = timezone.now()
    with transaction.atomic():
        allocation = Allocation.objects.select_for_update().get(pk=allocation.pk)
        before = snapshot(allocation)
        transitions.refuse_unless(allocation, S.APPROVED, "approved")
        if allocation.end <= now:
            raise Conflict("The allocation's window has passed; it can no longer be approved.", field="end")
        allocation.decided_by, allocation.decision_comment = user, comment[:500]
        allocation.save(update_fields=["decided_by", "decision_comment", "updated_at"])
        transitions.move(allocation, S.APPROVED, actor=user, note=comment, at=now)
        if allocation.start <= now:
            transitions.move(allocation, S.ACTIVE, actor=user, at=now)
        record_audit("allocations.approve", actor=user, obj=allocation, before=before,
                     after={**snapshot(allocation), "comment": comment[:500]})
    return allocation


def reject(user, allocation: Allocation, comment: str = "") -> Allocation:
    _check(user, allocation, "approve", "reject")
    if not comment.strip():
        raise InvalidInput({"comment": ["Say why the request is rejected."]})
    with transaction.atomic():
        allocation = Allocation.objects.select_for_update().get(pk=allocation.pk)
        before = snapshot(allocation)
        transitions.refuse_unless(allocation, S.REJECTED, "rejected")
        allocation.decided_by, allocation.decision_comment = user, comment[:500]
        allocation.save(update_fields=["decided_by", "decision_comment", "updated_at"])
        transitions.move(allocation, S.REJECTED, actor=user, note=comment)
        record_audit("allocations.reject", actor=user, obj=allocation, before=before,
                     after={**snapshot(allocation), "comment": comment[:500]})
    return allocation


def cancel(user, allocation: Allocation) -> Allocation:
    """Withdraw a request before it started (pending or approved)."""
    _check(user, allocation, "cancel", "cancel")
    with transaction.atomic():
        allocation = Allocation.objects.select_for_update().get(pk=allocation.pk)
        before = snapshot(allocation)
        transitions.move(allocation, S.CANCELLED, actor=user)
        record_audit("allocations.cancel", actor=user, obj=allocation, before=before, after=snapshot(allocation))
    return allocation


def release(user, allocation: Allocation) -> Allocation:
    """Give the GPUs back now (DELETE in the API). A request still pending is cancelled."""
    _check(user, allocation, "cancel", "release")
    with transaction.atomic():
        allocation = Allocation.objects.select_for_update().get(pk=allocation.pk)
        before = snapshot(allocation)
        target = S.CANCELLED if allocation.state == S.PENDING else S.RELEASED
        transitions.move(allocation, target, actor=user, note="released early")
        record_audit("allocations.release", actor=user, obj=allocation, before=before, after=snapshot(allocation))
    return allocation


def extend(user, allocation: Allocation, *, end=None, hours=None) -> Allocation:
    """Move the end later: the same GPUs must stay free and the quota must allow it."""
    _check(user, allocation, "change", "extend")
    with booking.process_lock(), transaction.atomic():
        allocation = Allocation.objects.select_for_update().get(pk=allocation.pk)
        if allocation.state not in HOLDING:
            raise Conflict(f"The allocation is {allocation.state}; it cannot be extended.", field="state")
        old_end = allocation.end
        new_end = end or (old_end + dt.timedelta(hours=float(hours or 0)))
        if new_end <= old_end:
            raise InvalidInput({"end": ["The new end must come after the current end."]})
        if new_end - allocation.start > MAX_DURATION:
            raise InvalidInput({"end": [f"At most {MAX_DURATION.days} days per allocation."]})
        booking.project_lock(allocation.project)
        excess = quotas.check(allocation.project, allocation.gpu_count, allocation.start, new_end,
                              exclude_id=allocation.pk)
        if excess and not can(user, allocation, "approve"):
            raise InvalidInput({excess.field: [f"Refused: {excess.message}."]})
        gpu_ids = list(AllocationGpu.objects.filter(allocation=allocation, holds=True).values_list("gpu_id", flat=True))
        in_way = AllocationGpu.objects.filter(gpu_id__in=gpu_ids, holds=True, start__lt=new_end,
                                              end__gt=old_end).exclude(allocation=allocation)
        blocked = in_way.order_by("start").values_list("start", flat=True).first()
        if blocked or not booking.extend_rows(allocation, new_end):
            when = f" before {blocked:%Y-%m-%d %H:%M} UTC" if blocked else ""
            raise Conflict(f"Another booking holds these GPUs from then; the allocation can be extended only{when}.",
                           field="end")
        before = snapshot(allocation)
        allocation.end, allocation.reminded_at = new_end, None
        allocation.save(update_fields=["end", "reminded_at", "updated_at"])
        record_audit("allocations.extend", actor=user, obj=allocation, before=before, after=snapshot(allocation))
        transaction.on_commit(lambda: allocation_extended.send(sender=Allocation, allocation=allocation,
                                                               old_end=old_end))
    return allocation


def user_by_id_or_name(value):
    """The seed's `user_id`: a primary key or a user name."""
    users = get_user_model().objects
    text = str(value).strip()
    found = users.filter(pk=int(text)).first() if text.isdigit() else None
    return found or users.filter(username=text).first()


# --- quotas ----------------------------------------------------------------------------------------
def may_set_quotas(user) -> bool:
    """Operators only: a project's own owners must not raise their quota."""
    return user.is_superuser or (user.has_perm("allocations.change_projectquota") and user.has_perm("rbac.unrestricted"))


def set_quota(user, project, *, concurrent_gpus=None, gpu_hours_per_month=None, over_quota=None):
    from .models import OverQuota, ProjectQuota

    if not may_set_quotas(user):
        raise Forbidden("Only operators set project quotas.")
    if over_quota is not None and over_quota not in OverQuota.values:
        raise InvalidInput({"over_quota": [f"One of {', '.join(OverQuota.values)}."]})
    quota = ProjectQuota.objects.filter(project=project).first()
    before = None if quota is None else {"concurrent_gpus": quota.concurrent_gpus,
                                         "gpu_hours_per_month": quota.gpu_hours_per_month,
                                         "over_quota": quota.over_quota}
    quota = quota or ProjectQuota(project=project)
    quota.concurrent_gpus, quota.gpu_hours_per_month = concurrent_gpus, gpu_hours_per_month
    quota.over_quota = over_quota or quota.over_quota or OverQuota.APPROVAL
    quota.save()
    record_audit("allocations.set_quota", actor=user, obj=quota, before=before,
                 after={"concurrent_gpus": concurrent_gpus, "gpu_hours_per_month": gpu_hours_per_month,
                        "over_quota": quota.over_quota})
    return quota


def delete_quota(user, quota) -> None:
    if not may_set_quotas(user):
        raise Forbidden("Only operators set project quotas.")
    record_audit("allocations.delete_quota", actor=user, obj=quota,
                 before={"concurrent_gpus": quota.concurrent_gpus, "gpu_hours_per_month": quota.gpu_hours_per_month})
    quota.delete()
