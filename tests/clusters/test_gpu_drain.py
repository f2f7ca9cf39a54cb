"""The automatic drain on GPU health: reason in Slurm, only our own drain resumed, idempotent,
and the hook only queues (the Slurm work runs in a task, after commit)."""
import pytest
from django.utils import timezone

from apps.clusters import gpu_drain
from apps.clusters.models import ClusterNode
from apps.events.models import Event
from apps.gpus import health as gpu_health
from apps.gpus.models import Gpu, GpuHealth

from .ops_fixtures import cluster, fake_slurm, project  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def gpus(cluster):
    member = ClusterNode.objects.get(cluster=cluster, slurm_name="lab-node1")
    return member, [Gpu.objects.create(node=member.node, index=i, uuid=f"GPU-{i}", model="H100") for i in range(3)]


def fail(gpu, reason="XID 79 (GPU has fallen off the bus)"):
    Gpu.objects.filter(pk=gpu.pk).update(health=GpuHealth.FAILED, health_reason=reason)


def test_failed_gpu_drains_with_the_reason_then_healthy_resumes(gpus, fake_slurm):
    member, (g0, g1, g2) = gpus
    fail(g2)
    assert gpu_drain.sync_member(member.pk) == gpu_drain.Outcome.DRAINED
    assert fake_slurm.updates() == [("update", ("lab-node1",), "DRAIN",
                                     "aimatrix: GPU 2 failed: XID 79 (GPU has fallen off the bus)")]
    member.refresh_from_db()
    assert member.drained_by_portal and member.state == "IDLE+DRAIN"
    event = Event.objects.get(type="node.health_changed", data__action="drain")
    assert event.object_id == str(member.node_id) and "GPU 2 failed" in event.message
    assert fake_slurm.state["lab-node10"] == ("IDLE", "")  # lab-node10 is another node

    assert gpu_drain.sync_member(member.pk) == gpu_drain.Outcome.ALREADY  # idempotent: no second drain
    assert len(fake_slurm.updates()) == 1

    Gpu.objects.filter(pk=g2.pk).update(health=GpuHealth.OK, health_reason="")
    assert gpu_drain.sync_member(member.pk) == gpu_drain.Outcome.RESUMED
    assert fake_slurm.updates()[-1] == ("update", ("lab-node1",), "RESUME", "")
    member.refresh_from_db()
    assert not member.drained_by_portal
    assert Event.objects.filter(type="node.health_changed", data__action="resume").count() == 1


def test_an_operators_drain_is_never_taken_over_or_resumed(gpus, fake_slurm):
    member, (g0, _, _) = gpus
    fake_slurm.state["lab-node1"] = ("IDLE+DRAIN", "bios update")
    fail(g0)
    assert gpu_drain.sync_member(member.pk) == gpu_drain.Outcome.OPERATOR
    Gpu.objects.filter(pk=g0.pk).update(health=GpuHealth.OK)
    assert gpu_drain.sync_member(member.pk) == gpu_drain.Outcome.ALREADY
    assert fake_slurm.updates() == [] and fake_slurm.state["lab-node1"] == ("IDLE+DRAIN", "bios update")


def test_redrained_by_an_operator_meanwhile_stays_drained(gpus, fake_slurm):
    member, (g0, _, _) = gpus
    fail(g0)
    gpu_drain.sync_member(member.pk)
    fake_slurm.state["lab-node1"] = ("IDLE+DRAIN", "keep it out: rma")
    Gpu.objects.filter(pk=g0.pk).update(health=GpuHealth.OK)
    assert gpu_drain.sync_member(member.pk) == gpu_drain.Outcome.ALREADY
    assert fake_slurm.state["lab-node1"] == ("IDLE+DRAIN", "keep it out: rma")
    assert not ClusterNode.objects.get(pk=member.pk).drained_by_portal


def test_reason_stays_one_safe_line():
    gpu = Gpu(index=1, health_reason="XID 48 (x=y|z)\nState=RESUME " + "a" * 300)
    reason = gpu_drain.drain_reason([gpu])
    assert "=" not in reason and "|" not in reason and "\n" not in reason and len(reason) <= 200
    assert reason.startswith("aimatrix: GPU 1 failed: XID 48")


def test_health_change_queues_the_task_after_commit(gpus, monkeypatch, django_capture_on_commit_callbacks):
    member, (g0, _, _) = gpus
    queued = []
    monkeypatch.setattr(gpu_drain, "queue_sync", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        gpu_health.set_health(g0, GpuHealth.FAILED, "XID 79 (GPU has fallen off the bus)", at=timezone.now())
    assert queued == [member.pk]
    with django_capture_on_commit_callbacks(execute=True):  # degraded is not failed: nothing for Slurm
        gpu_health.set_health(Gpu.objects.get(index=1, node=g0.node), GpuHealth.DEGRADED, "hot", at=timezone.now())
    assert queued == [member.pk]
