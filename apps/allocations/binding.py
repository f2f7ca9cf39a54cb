"""Binding allocations to the real fleet, outside the request's transaction.

The allocation signals (sent after commit) queue the task `apps.allocations.tasks.bind`; the beat
sweep calls `retry_due` for whatever is still missing (a worker that was down, a node that did
not answer). `sync(allocation_id)` makes the fleet match the allocation:

- active: one AllocationBinding per Slurm cluster its GPUs are in (a reservation of those nodes
  for the project's Slurm account and its members' Slurm users, until the allocation's end;
  updated on extend) and one per standalone node (the CUDA_VISIBLE_DEVICES value of its GPUs,
  and the requester's SSH public keys installed for the requester's Unix login);
- no longer active (released, expired, cancelled): every binding removed.

Each step writes one audit entry and one event on the allocation and leaves its outcome on the
binding row (shown on the allocation page). Failures are recorded and retried; they never undo
the allocation itself.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.core.audit import record_audit
from apps.events.models import EventType, Severity
from apps.events.publish import publish

from . import slurm_reservations, ssh_keys
from .models import Allocation, AllocationBinding, AllocationGpu, UserSshKey
from .models_binding import BindingGoal, BindingKind, BindingState
from .states import AllocationState as S

log = logging.getLogger(__name__)
SSH_TIMEOUT = 30.0


class BindingFailed(Exception):
    """A readable reason a binding step failed (shown on the allocation page)."""


# --- what an allocation should be bound to -----------------------------------------------------------
def _slurm_users(project, cluster) -> list[str]:
    from apps.clusters.models import SlurmUser

    member_ids = list(project.members.values_list("pk", flat=True))
    chosen: dict[int, str] = {}
    for user_id, cluster_id, name in SlurmUser.objects.filter(user_id__in=member_ids).filter(
            cluster_id__in=[cluster.pk]).values_list("user_id", "cluster_id", "username"):
        chosen[user_id] = name
    for user_id, name in SlurmUser.objects.filter(user_id__in=member_ids, cluster__isnull=True).values_list(
            "user_id", "username"):
        chosen.setdefault(user_id, name)
    return sorted({name for name in chosen.values() if name != "root"})


def _login_of(user) -> str:
    from apps.clusters.models import SlurmUser

    return SlurmUser.objects.filter(user=user, cluster__isnull=True).values_list("username", flat=True).first() or ""


def plan(allocation: Allocation) -> list[AllocationBinding]:
    """The bindings an active allocation needs (unsaved rows)."""
    from apps.clusters.models import ProjectAccount

    rows = (AllocationGpu.objects.filter(allocation=allocation, gpu__isnull=False)
            .select_related("gpu__node__cluster_member__cluster").order_by("gpu__node__name", "gpu__index"))
    clusters: dict[int, dict] = {}
    standalone: dict[int, dict] = {}
    for row in rows:
        node = row.gpu.node
        member = getattr(node, "cluster_member", None)
        if member is not None:
            entry = clusters.setdefault(member.cluster_id, {"cluster": member.cluster, "nodes": set(),
                                                            "gpus": defaultdict(list)})
            entry["nodes"].add(member.slurm_name)
            entry["gpus"][member.slurm_name].append(row.gpu.index)
        else:
            standalone.setdefault(node.pk, {"node": node, "gpus": []})["gpus"].append(row.gpu.index)
    out = []
    reservation = slurm_reservations.reservation_name(allocation.pk)
    for entry in clusters.values():
        cluster = entry["cluster"]
        # One row per cluster: the same reservation name on each (GPUs spread over clusters).
        name = reservation if len(clusters) == 1 else f"{reservation}@{cluster.name}"[:100]
        account = ProjectAccount.objects.filter(cluster=cluster, project_id=allocation.project_id).values_list(
            "account", flat=True).first()
        out.append(AllocationBinding(
            allocation=allocation, kind=BindingKind.SLURM_RESERVATION, cluster=cluster,
            name=name, slurm_nodes=sorted(entry["nodes"]),
            gpu_indexes=[{"node": n, "indexes": sorted(i)} for n, i in sorted(entry["gpus"].items())],
            accounts=[account] if account else [], users=_slurm_users(allocation.project, cluster)))
    login = _login_of(allocation.requester) if standalone else ""
    for entry in standalone.values():
        indexes = sorted(entry["gpus"])
        out.append(AllocationBinding(
            allocation=allocation, kind=BindingKind.SSH_ACCESS, node=entry["node"], name=entry["node"].name,
            gpu_indexes=indexes, devices=",".join(str(i) for i in indexes), login=login))
    return out


# --- the fleet ----------------------------------------------------------------------------------------
def _slurm(binding: AllocationBinding):
    from apps.clusters.connection import controller_client

    if binding.cluster is None:
        raise BindingFailed("the cluster was removed from the portal")
    return controller_client(binding.cluster, purpose=f"reservation of allocation {binding.allocation_id}")


def _apply_slurm(binding: AllocationBinding, allocation: Allocation) -> str:
    from apps.clusters.slurm import SlurmError

    name = slurm_reservations.reservation_name(allocation.pk)
    try:
        slurm = _slurm(binding)
        if binding.goal == BindingGoal.ABSENT:
            gone = slurm_reservations.delete(slurm, name)
            return f"reservation {name} deleted" if gone else f"reservation {name} was already gone"
        if not binding.accounts and not binding.users:
            raise BindingFailed(f"project {allocation.project.name} has no Slurm account on {binding.cluster.name} "
                                "and no member is mapped to a Slurm user")
        if binding.applied_end is None and slurm_reservations.find(slurm, name) is None:
            slurm_reservations.create(slurm, name, nodes=binding.slurm_nodes, end=allocation.end,
                                      accounts=binding.accounts, users=binding.users)
            return (f"reservation {name} created on {','.join(binding.slurm_nodes)} until "
                    f"{allocation.end:%Y-%m-%d %H:%M} UTC (whole nodes: Slurm reserves nodes, not single GPUs)")
        slurm_reservations.update_end(slurm, name, allocation.end)
        return f"reservation {name} now ends {allocation.end:%Y-%m-%d %H:%M} UTC"
    except SlurmError as exc:
        raise BindingFailed(str(exc)) from None


def _apply_ssh(binding: AllocationBinding, allocation: Allocation) -> str:
    from apps.nodes import remote, ssh

    if binding.node is None:
        raise BindingFailed("the node was removed from the portal")
    mark = ssh_keys.marker(allocation.pk)
    if binding.goal == BindingGoal.PRESENT:
        if not binding.login:
            raise BindingFailed(f"{allocation.requester.username} has no Unix login (a default Slurm user mapping) "
                                "to install SSH keys for")
        keys = list(UserSshKey.objects.filter(user_id=allocation.requester_id).values_list("public_key", flat=True))
        if not keys:
            raise BindingFailed(f"{allocation.requester.username} has no SSH public key in the portal")
        argv, stdin = ssh_keys.install_argv("add", binding.login, mark), ssh_keys.stdin_for(keys)
    else:
        if not binding.login:
            return "no keys were installed"
        argv, stdin = ssh_keys.install_argv("remove", binding.login, mark), b""
    try:
        result = remote.run(binding.node, argv, stdin=stdin, timeout=SSH_TIMEOUT,
                            purpose=f"SSH keys of allocation {allocation.pk}")
    except (remote.NodeUnavailable, ssh.SSHError) as exc:
        raise BindingFailed(str(exc)) from None
    if result.exit_status != 0:
        raise BindingFailed(f"{binding.node.name}: exit {result.exit_status}: "
                            f"{(result.stderr or result.stdout or '').strip()[-300:]}")
    what = result.stdout.strip()
    if binding.goal == BindingGoal.PRESENT:
        return (f"{len(keys)} SSH key(s) of {allocation.requester.username} installed for {binding.login} on "
                f"{binding.node.name} ({what}); CUDA_VISIBLE_DEVICES={binding.devices}")
    return f"SSH keys of allocation {allocation.pk} removed for {binding.login} on {binding.node.name} ({what})"


APPLY = {BindingKind.SLURM_RESERVATION: _apply_slurm, BindingKind.SSH_ACCESS: _apply_ssh}


def _settled(binding: AllocationBinding, allocation: Allocation) -> bool:
    if binding.state != BindingState.DONE:
        return False
    return binding.goal == BindingGoal.ABSENT or binding.applied_end == allocation.end


def _step(binding_id: int, allocation: Allocation) -> None:
    """One attempt on one binding, its row locked (a sweep and a queued task never both run it)."""
    with transaction.atomic():
        binding = (AllocationBinding.objects.select_for_update(skip_locked=True, of=("self",))
                   .select_related("cluster__controller", "node").filter(pk=binding_id).first())
        if binding is None or _settled(binding, allocation):
            return
        removing = binding.goal == BindingGoal.ABSENT
        try:
            detail = APPLY[binding.kind](binding, allocation)
            binding.state, ok = BindingState.DONE, True
            binding.applied_end = None if removing else allocation.end
        except BindingFailed as exc:
            detail, ok = str(exc), False
            binding.state = BindingState.FAILED
        binding.detail, binding.attempts = detail[:500], binding.attempts + 1
        binding.save(update_fields=["state", "detail", "attempts", "applied_end", "updated_at"])
        verb = "unbind" if removing else "bind"
        record_audit(f"allocations.{verb}", obj=allocation,
                     after={"binding": binding.pk, "kind": binding.kind, "name": binding.name, "ok": ok,
                            "detail": binding.detail})
        publish(EventType.ALLOCATION_CHANGED, allocation,
                f"{allocation}: {binding.get_kind_display()} {binding.name}: {'' if ok else 'FAILED: '}{detail}",
                {"allocation": allocation.pk, "binding": binding.kind, "name": binding.name,
                 "goal": binding.goal, "ok": ok, "detail": binding.detail[:300]},
                severity=Severity.INFO if ok else Severity.WARNING)


def sync(allocation_id: int) -> dict:
    """Make the fleet match the allocation now; {binding name: state}."""
    allocation = Allocation.objects.select_related("project", "requester").filter(pk=allocation_id).first()
    if allocation is None:
        return {}
    now = timezone.now()
    present = allocation.state == S.ACTIVE and allocation.end > now
    existing = AllocationBinding.objects.filter(allocation=allocation)
    if present and not existing.exists():
        for row in plan(allocation):
            AllocationBinding.objects.get_or_create(allocation=allocation, kind=row.kind, name=row.name,
                                                    defaults={f.attname: getattr(row, f.attname)
                                                              for f in AllocationBinding._meta.concrete_fields
                                                              if f.name not in ("id", "allocation", "updated_at")})
    if not present:
        existing.filter(goal=BindingGoal.PRESENT).update(goal=BindingGoal.ABSENT, state=BindingState.PENDING)
    for binding_id in list(existing.values_list("pk", flat=True)):
        _step(binding_id, allocation)
    return dict(AllocationBinding.objects.filter(allocation=allocation).values_list("name", "state"))


# --- triggers -------------------------------------------------------------------------------------------
def queue(allocation_id: int) -> None:
    """Run sync in a worker; if the broker is down the sweep catches up."""
    from .tasks import bind

    try:
        bind.delay(allocation_id)
    except Exception as exc:  # noqa: BLE001 - the sweep retries; the request already succeeded
        log.warning("could not queue the binding of allocation %s: %s", allocation_id, exc)


def on_changed(sender, allocation, before, after, **kwargs):
    if after == S.ACTIVE or before == S.ACTIVE:
        queue(allocation.pk)


def on_extended(sender, allocation, old_end, **kwargs):
    if allocation.state == S.ACTIVE:
        queue(allocation.pk)


SWEEP_BATCH = 50
GRACE_SECONDS = 60  # a queued task binds first; the sweep catches what it missed
MAX_BACKOFF_SECONDS = 3600


def backoff(attempts: int) -> dt.timedelta:
    """Wait before retrying a failed step: 1, 2, 4 ... minutes, at most an hour (a requester
    without a key is not retried, audited and evented every minute for days)."""
    return dt.timedelta(seconds=min(GRACE_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


def due(now=None) -> list[int]:
    """Allocations whose bindings lag: active ones never bound, rows not done (failed ones after
    their back-off), done rows whose end differs from the allocation's, and bindings still present
    on allocations no longer active."""
    now = now or timezone.now()
    unbound = (Allocation.objects.filter(state=S.ACTIVE, end__gt=now, bindings__isnull=True,
                                         state_changed_at__lt=now - dt.timedelta(seconds=GRACE_SECONDS))
               .values_list("pk", flat=True)[:SWEEP_BATCH])
    stale = (AllocationBinding.objects.filter(goal=BindingGoal.PRESENT, state=BindingState.DONE)
             .filter(~Q(allocation__state=S.ACTIVE) | Q(allocation__end__lte=now) | ~Q(applied_end=F("allocation__end")))
             .values_list("allocation_id", flat=True).distinct()[:SWEEP_BATCH])
    waiting = (AllocationBinding.objects.filter(state__in=[BindingState.PENDING, BindingState.FAILED],
                                                updated_at__lt=now - dt.timedelta(seconds=GRACE_SECONDS))
               .order_by("updated_at").values_list("allocation_id", "attempts", "updated_at")[:SWEEP_BATCH * 4])
    retry = {a for a, attempts, at in waiting if at <= now - backoff(attempts)}
    return sorted(set(unbound) | set(stale) | retry)


def retry_due(now=None) -> int:
    ids = due(now)
    for allocation_id in ids:
        try:
            sync(allocation_id)
        except Exception:  # noqa: BLE001 - one allocation's failure never stops the sweep
            log.exception("binding allocation %s failed", allocation_id)
    return len(ids)
