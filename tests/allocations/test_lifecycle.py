"""State machine, quotas, approval, extend / release / cancel, expiry and reminders (the beat
task's functions called with a moved clock), and a failed GPU flagged with a replacement."""
import datetime as dt

import pytest

from apps.allocations import lifecycle, services
from apps.allocations.models import Allocation, AllocationGpu
from apps.allocations.states import TRANSITIONS, AllocationState as S, allowed
from apps.core.errors import Conflict, Forbidden, InvalidInput
from apps.core.models import AuditEvent
from apps.events.models import Event, EventType
from apps.gpus import health
from apps.gpus.models import Gpu, GpuHealth

from .conftest import add_node, set_quota

pytestmark = pytest.mark.django_db


def test_transition_table():
    assert allowed(S.PENDING, S.APPROVED) and allowed(S.APPROVED, S.ACTIVE) and allowed(S.ACTIVE, S.RELEASED)
    assert not allowed(S.ACTIVE, S.CANCELLED) and not allowed(S.REJECTED, S.APPROVED)
    assert all(not TRANSITIONS[s] for s in (S.RELEASED, S.EXPIRED, S.REJECTED, S.CANCELLED))


def test_within_quota_auto_approved_and_active(team, dev, now, hours):
    add_node("n1")
    set_quota(team, gpus=4, hours=1000)
    alloc = services.request_allocation(dev, project=team, gpu_count=4, start=now, end=now + hours(2))
    assert alloc.state == S.ACTIVE
    audits = AuditEvent.objects.filter(action="allocations.request", object_id=str(alloc.pk))
    assert audits.count() == 1 and audits.get().changes["after"]["path"] == ["pending", "approved", "active"]
    changes = Event.objects.filter(type=EventType.ALLOCATION_CHANGED, object_id=str(alloc.pk))
    assert sorted(e.data["after"] for e in changes) == ["active", "approved"]


def test_over_quota_waits_for_owner_approval(team, dev, owner, now, hours):
    add_node("n1")
    set_quota(team, gpus=2)
    alloc = services.request_allocation(dev, project=team, gpu_count=3, start=now + hours(1), end=now + hours(3))
    assert alloc.state == S.PENDING and "quota of 2 GPUs at once" in alloc.approval_reason
    assert alloc.gpus.filter(holds=True).count() == 3  # booked while it waits
    with pytest.raises(Forbidden):
        services.approve(dev, alloc)  # a member may not approve
    services.approve(owner, alloc, "ok for the deadline")
    alloc.refresh_from_db()
    assert (alloc.state, alloc.decided_by, alloc.decision_comment) == (S.APPROVED, owner, "ok for the deadline")
    with pytest.raises(Conflict) as err:
        services.approve(owner, alloc)
    assert "approved" in err.value.message and err.value.status == 409


def test_reject_needs_comment_and_frees_gpus(team, dev, owner, now, hours):
    add_node("n1", gpus=2)
    set_quota(team, gpus=1)
    alloc = services.request_allocation(dev, project=team, gpu_count=2, start=now, end=now + hours(1))
    with pytest.raises(InvalidInput):
        services.reject(owner, alloc, "")
    services.reject(owner, alloc, "too many")
    assert Allocation.objects.get(pk=alloc.pk).state == S.REJECTED
    assert not AllocationGpu.objects.filter(holds=True).exists()
    with pytest.raises(Conflict):
        services.release(owner, Allocation.objects.get(pk=alloc.pk))


def test_quota_refused_names_limit(team, dev, now, hours):
    add_node("n1")
    set_quota(team, gpus=8, hours=10, refuse=True)
    with pytest.raises(InvalidInput) as err:
        services.request_allocation(dev, project=team, gpu_count=2, start=now, end=now + hours(6))
    assert "quota of 10 GPU-hours" in err.value.errors["end"][0]
    set_quota(team, gpus=1, refuse=True)
    with pytest.raises(InvalidInput) as err:
        services.request_allocation(dev, project=team, gpu_count=2, start=now, end=now + hours(1))
    assert "quota of 1 GPUs at once" in err.value.errors["gpu_count"][0]
    assert not Allocation.objects.exists()


def test_project_fields_are_the_default_quota(team, dev, now, hours):
    add_node("n1")
    team.gpu_quota = 1
    team.save()
    alloc = services.request_allocation(dev, project=team, gpu_count=2, start=now, end=now + hours(1))
    assert alloc.state == S.PENDING


def test_extend_release_cancel(team, dev, now, hours):
    add_node("n1", gpus=2)
    alloc = services.request_allocation(dev, project=team, gpu_count=1, start=now, end=now + hours(2))
    other = services.request_allocation(dev, project=team, gpu_count=2, start=now + hours(4), end=now + hours(6))
    services.extend(dev, alloc, hours=1)
    alloc.refresh_from_db()
    assert alloc.end == now + hours(3) and set(alloc.gpus.values_list("end", flat=True)) == {now + hours(3)}
    with pytest.raises(Conflict) as err:
        services.extend(dev, alloc, end=now + hours(5))  # the other booking holds both GPUs from +4h
    assert err.value.field == "end"
    services.cancel(dev, other)
    services.extend(dev, alloc, end=now + hours(5))
    services.release(dev, alloc)
    alloc.refresh_from_db()
    assert alloc.state == S.RELEASED and not alloc.gpus.filter(holds=True).exists()
    assert alloc.gpus.get().end < now + hours(1)  # the booking ends at the release
    with pytest.raises(Conflict):
        services.cancel(dev, alloc)


def test_extend_rechecks_quota(team, dev, now, hours):
    add_node("n1")
    set_quota(team, hours=10)
    alloc = services.request_allocation(dev, project=team, gpu_count=2, start=now, end=now + hours(4))
    with pytest.raises(InvalidInput) as err:
        services.extend(dev, alloc, hours=2)
    assert "GPU-hours" in err.value.errors["end"][0]


def test_expiry_activation_and_reminder_with_moved_clock(team, dev, now, hours, settings):
    settings.ALLOCATION_REMINDER_MINUTES = 30
    add_node("n1", gpus=2)
    alloc = services.request_allocation(dev, project=team, gpu_count=2, start=now + hours(1), end=now + hours(3))
    assert alloc.state == S.APPROVED
    assert lifecycle.sweep(now + dt.timedelta(minutes=59)) == {"expired": 0, "activated": 0, "reminded": 0}
    assert lifecycle.sweep(now + hours(1))["activated"] == 1
    assert lifecycle.sweep(now + hours(2))["reminded"] == 0
    assert lifecycle.sweep(now + dt.timedelta(minutes=155))["reminded"] == 1
    assert lifecycle.sweep(now + dt.timedelta(minutes=156))["reminded"] == 0  # once
    reminder = Event.objects.get(type=EventType.ALLOCATION_ENDING)
    assert reminder.data["allocation"] == alloc.pk and reminder.project_id == team.pk
    assert lifecycle.sweep(now + hours(3))["expired"] == 1
    alloc.refresh_from_db()
    assert alloc.state == S.EXPIRED and not AllocationGpu.objects.filter(holds=True).exists()
    assert AuditEvent.objects.filter(action="allocations.expire", object_id=str(alloc.pk)).count() == 1
    # The GPUs are free again for the same window.
    again = services.request_allocation(dev, project=team, gpu_count=2, start=now + hours(1), end=now + hours(3))
    assert again.gpus.count() == 2


def test_pending_request_lapses(team, dev, now, hours):
    add_node("n1")
    set_quota(team, gpus=0)
    alloc = services.request_allocation(dev, project=team, gpu_count=1, start=now, end=now + hours(1))
    lifecycle.sweep(now + hours(1))
    assert Allocation.objects.get(pk=alloc.pk).state == S.EXPIRED


def test_failed_gpu_flagged_with_replacement(team, dev, now, hours, django_capture_on_commit_callbacks):
    node = add_node("n1", gpus=4)
    alloc = services.request_allocation(dev, project=team, gpu_count=2, start=now, end=now + hours(4))
    held = list(alloc.gpus.values_list("gpu_id", flat=True))
    gpu = Gpu.objects.get(pk=held[0])
    with django_capture_on_commit_callbacks(execute=True):
        health.set_health(gpu, GpuHealth.FAILED, "XID 79", at=now)
    alloc.refresh_from_db()
    flag = alloc.flags[-1]
    assert flag["gpu"] == gpu.pk and flag["replacement"] not in held + [None]
    assert Gpu.objects.get(pk=flag["replacement"]).node == node
    event = Event.objects.get(type=EventType.ALLOCATION_GPU_FAILED)
    assert event.data["replacement"] == flag["replacement"]
