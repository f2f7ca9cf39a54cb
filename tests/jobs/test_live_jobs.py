"""Jobs end to end on the real worker: self-check, cancel, retry, audit."""
import pytest

from apps.core.models import AuditEvent
from apps.jobs.models import JobEvent

from ..conftest import wait_for, wait_for_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]


def test_selfcheck_runs_every_check_as_a_step(live_worker, make_user, api):
    admin = make_user("root", superuser=True)
    resp = api(admin).post("/api/v1/jobs/", {"kind": "core.selfcheck"}, format="json")
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert body["status"] == "queued" and body["websocket"] == f"/ws/jobs/{body['id']}/"
    job = wait_for_job(body["id"])
    assert job.status == "succeeded", job.error
    assert job.progress == 100
    steps = list(JobEvent.objects.filter(job=job, kind="step").values_list("message", flat=True))
    assert steps == ["Database", "Redis", "Celery workers", "A worker for every queue", "Disk space under var/", "Clock"]
    assert set(job.result["checks"]) == {"database", "redis", "worker", "queues", "disk", "clock"}
    assert all(c["ok"] for c in job.result["checks"].values())
    seqs = list(JobEvent.objects.filter(job=job).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


def test_cancel_stops_a_running_job(live_worker, make_user, api):
    user = make_user("ops", "jobs.run_diagnostics")
    client = api(user)
    job_id = client.post("/api/v1/jobs/", {"kind": "core.pulse", "params": {"count": 100000, "rate": 50}},
                         format="json").json()["id"]
    wait_for(lambda: JobEvent.objects.filter(job_id=job_id, kind="log").count() >= 10, message="events flowing")
    resp = client.post(f"/api/v1/jobs/{job_id}/cancel/")
    assert resp.status_code == 202, resp.content
    job = wait_for_job(job_id, timeout=10)
    assert job.status == "cancelled"
    count = JobEvent.objects.filter(job_id=job_id).count()
    import time
    time.sleep(1.0)
    assert JobEvent.objects.filter(job_id=job_id).count() == count, "events kept coming after cancel"
    assert JobEvent.objects.filter(job_id=job_id, kind="log").count() < 1000
    actions = list(AuditEvent.objects.filter(object_id=str(job_id)).values_list("action", flat=True))
    assert "job.start" in actions and "job.cancel" in actions
    # A finished job cannot be cancelled again: a clear 409.
    again = client.post(f"/api/v1/jobs/{job_id}/cancel/")
    assert again.status_code == 409
    assert "already ended" in again.json()["detail"]


def test_retry_starts_a_new_job_with_the_same_parameters(live_worker, make_user, api):
    user = make_user("dev", "jobs.run_diagnostics")
    client = api(user)
    first = client.post("/api/v1/jobs/", {"kind": "core.pulse", "params": {"count": 5, "rate": 100}},
                        format="json").json()["id"]
    assert wait_for_job(first).status == "succeeded"
    resp = client.post(f"/api/v1/jobs/{first}/retry/")
    assert resp.status_code == 202, resp.content
    second = resp.json()
    assert second["id"] != first and second["retry_of"] == first
    assert second["params"] == {"count": 5, "rate": 100.0}
    assert wait_for_job(second["id"]).status == "succeeded"
    assert AuditEvent.objects.filter(action="job.retry", object_id=str(second["id"]), actor=user).exists()
