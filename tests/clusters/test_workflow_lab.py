"""Deploy and cleanup workflows against the real lab: they drive the Redfish emulator (power on,
power off) and the managed cluster (scale in through Salt, scale down), every step streamed as a
job event. Then a real Celery worker runs a deploy and its pool process is killed (SIGKILL)
during "Install and scale in": the lost run fails with that reason, a new run continuing it is
queued by itself, skips the finished steps and completes."""
from __future__ import annotations

import json
import os

import pytest

from apps.clusters import workflows
from apps.clusters.scaling_jobs import STATE
from apps.clusters.models import ClusterNode
from apps.jobs.models import EventKind, Job, JobStatus
from apps.nodes import remote
from apps.nodes.bmc import PowerAction, wait_for_power

from .. import processes
from ..conftest import wait_for
from .scaling_fixtures import run, scaling_lab, slurmd_running  # noqa: F401  (fixture)
from .test_apply_lab import job_log, sinfo, wait_idle

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, users)"),
              pytest.mark.django_db(transaction=True)]


def redfish_node(t):
    """A spare host whose BMC is the Redfish emulator (one lab host has the IPMI simulator)."""
    name = next(n for n in t.spare if t.nodes[n].bmc.driver == "redfish")
    return t.nodes[name]


def power(node, action: PowerAction, desired: str) -> str:
    client = remote.bmc_client(node, "test", "test")
    client.power(action)
    wait_for_power(client, desired, 30)
    return client.power_state()


def power_state(node) -> str:
    return remote.bmc_client(node, "test", "test").power_state()


def steps_of(job) -> list[str]:
    return list(job.events.filter(kind=EventKind.STEP).order_by("seq").values_list("message", flat=True))


def test_deploy_then_cleanup_drive_redfish_and_the_cluster(scaling_lab):
    t = scaling_lab
    node = redfish_node(t)
    assert power(node, PowerAction.OFF, "off") == "off"
    try:
        deploy = run(workflows.start_deploy(t.admin, t.cluster, node, munge_key=t.secret.name))
        log = job_log(deploy)
        assert deploy.status == JobStatus.SUCCEEDED, f"{deploy.error}\n{log[-3000:]}"
        assert [s for s in steps_of(deploy) if s in deploy.result["steps"]] == [
            "Power on", "Wait for SSH", "Enroll (Salt key)", "Install and scale in", "Health check"]
        assert deploy.result["results"]["Power on"].startswith("power off -> on")
        assert power_state(node) == "on"
        assert wait_idle(t, [node.name])[node.name][0] == "idle"
        assert t.munge_b64 not in log

        cleanup = run(workflows.start_cleanup(t.admin, t.cluster, node, reason="workflow test", drain_timeout=30))
        assert cleanup.status == JobStatus.SUCCEEDED, f"{cleanup.error}\n{job_log(cleanup)[-3000:]}"
        assert cleanup.result["steps"] == ["Drain and scale down", "Power off"]
        assert power_state(node) == "off"
        assert node.name not in sinfo(t) and not ClusterNode.objects.filter(node=node).exists()
        assert not slurmd_running(t, node.name)
    finally:
        power(node, PowerAction.ON, "on")


def test_worker_killed_during_a_deploy_the_workflow_resumes_after_its_last_step(scaling_lab):
    t = scaling_lab
    node = redfish_node(t)
    env = {"AIMATRIX_SALT_PILLAR_DIR": str(t.pillar_dir),
           "AIMATRIX_SLURM_NODE_PILLAR": json.dumps(t.node_pillar),
           "AIMATRIX_SCALE_IDLE_TIMEOUT": "60"}
    worker = processes.start_worker("wf-resume", queues="slurm", concurrency=1, **env)
    others = processes.only_this_worker_takes("slurm", "wf-resume")  # the suite's worker must not run (and lose) it
    try:
        first = workflows.start_deploy(t.admin, t.cluster, node, munge_key=t.secret.name)
        # "Install and scale in" runs the scaling steps; the Salt state run takes seconds
        in_state = f"state.apply {STATE} on the new nodes"
        wait_for(lambda: (j := Job.objects.get(pk=first.pk)).current_step == in_state or
                 j.status not in (JobStatus.QUEUED, JobStatus.RUNNING),
                 timeout=120, interval=0.05, message=f"the deploy to reach '{in_state}'")
        assert Job.objects.get(pk=first.pk).current_step == in_state, Job.objects.get(pk=first.pk).error
        pid = int(Job.objects.get(pk=first.pk).worker.rsplit(" pid ", 1)[1])
        os.kill(pid, 9)  # the pool process dies mid-step: no cleanup code runs
        resumed = wait_for(lambda: Job.objects.filter(retry_of=first).first(), timeout=90,
                           message="the workflow to be resumed")
        ended = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
        resumed = wait_for(lambda: (j := Job.objects.get(pk=resumed.pk)).status in ended and j, timeout=300,
                           message="the resumed run to end")
    finally:
        processes.consume_again("slurm", others)
        worker.stop()
    first.refresh_from_db()
    assert first.status == JobStatus.FAILED and "was lost" in first.error and in_state in first.error
    assert resumed.status == JobStatus.SUCCEEDED, f"{resumed.error}\n{job_log(resumed)[-3000:]}"
    assert resumed.result["skipped"] == ["Power on", "Wait for SSH", "Enroll (Salt key)"]
    assert set(resumed.result["results"]) == {"Install and scale in", "Health check"}
    assert wait_idle(t, [node.name])[node.name][0] == "idle"
    assert ClusterNode.objects.filter(cluster=t.cluster, node=node).count() == 1
