"""Agentless collection against the lab: real SSH to every lab host, the lab's simulated
nvidia-smi (scripts/lab/gpus, a lab device) and the hosts' /proc."""
import pytest

from apps.gpus import collect
from apps.gpus.models import Gpu, GpuHealth, NodeSample
from apps.jobs import services as jobs
from apps.jobs.models import JobEvent
from devtools import lab_gpus

from ..conftest import wait_for_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]


@pytest.fixture
def gpu_lab(fleet, lab_inventory):
    for host in lab_inventory.hosts:
        lab_gpus.reset(lab_inventory, host.name)
    yield fleet
    for host in lab_inventory.hosts:
        lab_gpus.reset(lab_inventory, host.name)


def test_agentless_collection_from_every_lab_host(gpu_lab, lab_inventory):
    outcomes = {}
    counts = collect.collect(gpu_lab["nodes"].values(), purpose="test",
                             on_result=lambda node, ok, message, data: outcomes.update({node.name: (ok, message)}))
    assert counts == {"collected": len(gpu_lab["nodes"]), "failed": 0}, outcomes
    for name, node in gpu_lab["nodes"].items():
        gpus = Gpu.objects.filter(node=node, present=True)
        assert 2 <= gpus.count() <= 8, name  # the lab gives each host 2-8 GPUs
        assert all(g.uuid.startswith("GPU-") and g.model and g.last_sample_at for g in gpus)
        assert NodeSample.objects.filter(node=node).exists()
    # A hot GPU shows its temperature; a vanished one is marked failed, never deleted.
    node = gpu_lab["nodes"]["lab-node1"]
    lab_gpus.set_gpu(lab_inventory, "lab-node1", 0, temperature_c=92)
    lab_gpus.set_gpu(lab_inventory, "lab-node1", 1, gone=True)
    collect.collect([node], purpose="test")
    assert Gpu.objects.get(node=node, index=0, present=True).last_sample["temperature_c"] == 92
    gone = Gpu.objects.get(node=node, index=1)
    assert (gone.present, gone.health, gone.health_reason) == (False, GpuHealth.FAILED, "missing from inventory")


def test_the_collect_job_runs_on_the_worker(live_worker, gpu_lab):
    names = list(gpu_lab["nodes"])
    job = wait_for_job(jobs.start_job(gpu_lab["admin"], "gpus.collect", {"nodes": names}).pk, timeout=60)
    assert job.status == "succeeded", job.error
    hosts = {e.host: e.data for e in JobEvent.objects.filter(job=job, kind="host")}
    assert {h: d["ok"] for h, d in hosts.items()} == {n: True for n in names}
    assert Gpu.objects.filter(node__name__in=names, present=True).count() >= 2 * len(names)
