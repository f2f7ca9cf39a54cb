"""The sources publish: GPUs discovered (ingest), configuration changes (audited node changes),
jobs that end (the jobs app's signal), with object, project and labels copied."""
import pytest

from apps.events.models import Event, EventType

pytestmark = pytest.mark.django_db


def test_discovered_gpus_are_hardware_events(two_gpus, django_capture_on_commit_callbacks):
    events = Event.objects.filter(type=EventType.HARDWARE_DISCOVERED).order_by("object_repr")
    assert [e.object_repr for e in events] == ["gpu-node/gpu0", "gpu-node/gpu1"]
    assert all(e.object_type.model == "gpu" and e.labels == ["rack-a"] and e.data["uuid"].startswith("GPU-test-")
               for e in events)


def test_node_changes_are_configuration_events(gpu_node, root):
    from apps.nodes import services as nodes
    from apps.rbac import services as rbac

    project = rbac.create_project(None, "team-a", owner=root)
    nodes.update_node(root, gpu_node, labels=["rack-b"], project=project)
    event = Event.objects.filter(type=EventType.CONFIGURATION_CHANGED).latest("id")
    assert event.data["action"] == "node.update" and event.object_id == str(gpu_node.pk)
    assert event.project == project and event.labels == ["rack-b"]


def test_finished_jobs_are_events(root):
    from apps.jobs.execution import finish
    from apps.jobs.models import Job, JobStatus

    job = Job.objects.create(kind="core.selfcheck", status=JobStatus.RUNNING, requester=root)
    assert finish(job.pk, JobStatus.FAILED, error="it broke")
    event = Event.objects.get(type=EventType.JOB_FINISHED)
    assert (event.severity, event.data["status"], event.data["error"], event.object_id) == (
        "warning", "failed", "it broke", str(job.pk))
    assert not finish(job.pk, JobStatus.SUCCEEDED)  # a job ends once: no second event
    assert Event.objects.filter(type=EventType.JOB_FINISHED).count() == 1
