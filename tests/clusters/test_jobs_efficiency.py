"""GPU efficiency per job: the GPUs a job held (gpu_indexes through ClusterNode.node and
Gpu.index) joined with telemetry stored by the real ingest; the idle-GPU list and its event."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.clusters import efficiency
from apps.clusters.models import Cluster, ClusterNode, SlurmJob, SlurmJobState
from apps.events.models import Event, EventType
from apps.gpus import rollups
from apps.gpus.ingest import ingest
from apps.nodes.models import Node

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0)


def _telemetry(node, utils: list[float], *, minutes=40, memory=1000.0):
    """One sample per minute for `minutes` up to NOW, GPU i at utils[i]."""
    inventory = [{"index": i, "uuid": f"GPU-{node.name}-{i}", "name": "NVIDIA H100", "memory_total_mib": 81559}
                 for i in range(len(utils))]
    samples = [{"uuid": f"GPU-{node.name}-{i}", "ts": (NOW - dt.timedelta(minutes=m)).isoformat(),
                "utilization_pct": u, "memory_used_mib": memory + i}
               for m in range(minutes) for i, u in enumerate(utils)]
    ingest(node, {"version": 1, "inventory": inventory, "gpu_samples": samples}, source="agent", now=NOW)


@pytest.fixture
def lab():
    nodes = [Node.objects.create(name=f"n{i}", address=f"10.9.1.{i}") for i in (1, 2)]
    cluster = Cluster.objects.create(name="eff", controller=nodes[0])
    for node in nodes:
        ClusterNode.objects.create(cluster=cluster, slurm_name=f"slurm-{node.name}", node=node, gpu_count=4)
    _telemetry(nodes[0], [10.0, 20.0, 30.0, 40.0])
    _telemetry(nodes[1], [50.0, 2.0, 70.0, 80.0])
    return cluster


def _job(cluster, indexes, *, state=SlurmJobState.RUNNING, minutes=35, job_id="7"):
    return SlurmJob.objects.create(cluster=cluster, job_id=job_id, state=state, gpus=sum(map(len, indexes.values())),
                                   gpu_indexes=indexes, started_at=NOW - dt.timedelta(minutes=minutes),
                                   ended_at=None if state == SlurmJobState.RUNNING else NOW)


def test_efficiency_reads_exactly_the_gpus_the_job_held(lab):
    job = _job(lab, {"slurm-n1": [1], "slurm-n2": [0, 2]})
    result = efficiency.compute(job, now=NOW)
    per_gpu = {(g["node"], g["index"]): g for g in result["gpus"]}
    assert set(per_gpu) == {("slurm-n1", 1), ("slurm-n2", 0), ("slurm-n2", 2)}
    assert [per_gpu[k]["util_avg"] for k in sorted(per_gpu)] == [20.0, 50.0, 70.0]
    assert per_gpu[("slurm-n2", 2)]["mem_max_mib"] == 1002.0
    assert result["overall"]["util_avg"] == pytest.approx((20 + 50 + 70) / 3, abs=0.1)
    assert result["overall"]["util_max"] == 70.0 and result["final"] is False


def test_long_jobs_read_the_minute_rollup_with_the_same_answer(lab, settings):
    rollups.roll_minutes(NOW - dt.timedelta(hours=1), NOW + dt.timedelta(minutes=1))
    job = _job(lab, {"slurm-n2": [3]})
    raw = efficiency.compute(job, now=NOW)
    settings.SLURM_EFFICIENCY_RAW_HOURS = 0.1
    rolled = efficiency.compute(job, now=NOW)
    assert rolled["source"] == "rollup_1m" and raw["source"] == "samples"
    assert rolled["gpus"][0]["util_avg"] == raw["gpus"][0]["util_avg"] == 80.0


def test_a_gpu_without_a_portal_row_is_listed_without_numbers(lab):
    job = _job(lab, {"slurm-unknown": [0]})
    result = efficiency.compute(job, now=NOW)
    assert result["gpus"][0]["gpu_id"] is None and result["overall"]["gpus_without_telemetry"] == 1


def test_a_finished_job_keeps_its_summary(lab):
    job = _job(lab, {"slurm-n1": [3]}, state=SlurmJobState.COMPLETED)
    assert efficiency.finalize([job]) == 1
    job.refresh_from_db()
    assert job.gpu_efficiency["final"] is True and job.gpu_efficiency["gpus"][0]["util_avg"] == 40.0
    assert efficiency.efficiency(job) == job.gpu_efficiency


def test_idle_gpu_jobs_publish_one_event_per_idle_spell(lab, settings):
    settings.SLURM_IDLE_GPU_MINUTES = 30
    idle = _job(lab, {"slurm-n2": [1, 3]}, job_id="8")  # gpu1 at 2 %, gpu3 at 80 %
    _job(lab, {"slurm-n1": [0]}, job_id="9")  # 10 %: working
    _job(lab, {"slurm-n2": [1]}, minutes=10, job_id="10")  # idle but only 10 minutes old
    found = efficiency.idle_gpu_jobs(SlurmJob.objects.all(), now=NOW)
    assert [(item["job"].job_id, [(g["node"], g["index"]) for g in item["idle"]]) for item in found] == [
        ("8", [("slurm-n2", 1)])]
    assert efficiency.publish_idle(now=NOW) == 1
    assert efficiency.publish_idle(now=NOW) == 0  # the same spell: no second event
    event = Event.objects.get(type=EventType.SLURM_JOB_GPUS_IDLE)
    assert event.object_id == str(idle.pk) and event.data["idle"][0]["index"] == 1


def test_the_job_list_names_jobs_holding_idle_gpus(lab, client, root):
    _job(lab, {"slurm-n2": [1, 3]}, job_id="8")
    client.force_login(root)
    body = client.get("/clusters/jobs/").content.decode()
    assert 'id="idle-gpu-jobs"' in body and "eff:8" in body and "slurm-n2/gpu1 2.0 %" in body
    assert "slurm-n2/gpu3" not in body.split('id="idle-gpu-jobs"')[1].split("</section>")[0]


def test_a_job_s_page_says_when_it_holds_idle_gpus(lab, client, root):
    job = _job(lab, {"slurm-n2": [1]}, job_id="8")
    efficiency.publish_idle(now=NOW)
    client.force_login(root)
    assert 'id="job-idle-gpus"' in client.get(f"/clusters/jobs/{job.pk}/").content.decode()
