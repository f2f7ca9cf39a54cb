"""`next` after a failed page action: only URLs of this site are followed (no open redirect)."""
import pytest

from apps.jobs import services as job_services
from apps.jobs.execution import finish
from apps.jobs.models import JobStatus

pytestmark = pytest.mark.django_db

EVIL = ["https://evil.example/login", "//evil.example/", "/\\evil.example", "javascript:alert(1)",
        "http://testserver.evil.example/", "https:///evil.example"]


@pytest.fixture
def admin_client(make_user, client, monkeypatch):
    monkeypatch.setattr(job_services, "enqueue", lambda job: None)
    admin = make_user("root", superuser=True)
    client.force_login(admin)
    client.admin = admin
    return client


@pytest.fixture
def finished_job(admin_client):
    job = job_services.start_job(admin_client.admin, "core.selfcheck")
    finish(job.pk, JobStatus.FAILED, error="x", from_statuses=(JobStatus.QUEUED,))
    return job


@pytest.mark.parametrize("evil", EVIL)
def test_job_start_error_does_not_follow_a_foreign_next(admin_client, evil):
    resp = admin_client.post("/jobs/start/", {"kind": "no.such.kind", "next": evil})
    assert resp.status_code == 302 and resp["Location"] == "/jobs/"


@pytest.mark.parametrize("evil", EVIL)
def test_job_cancel_and_retry_errors_do_not_follow_a_foreign_next(admin_client, finished_job, evil):
    resp = admin_client.post(f"/jobs/{finished_job.pk}/cancel/", {"next": evil})  # already ended: 409 as a message
    assert resp.status_code == 302 and resp["Location"] == "/jobs/"
    active = job_services.start_job(admin_client.admin, "core.selfcheck")
    resp = admin_client.post(f"/jobs/{active.pk}/retry/", {"next": evil})  # still queued: refused
    assert resp.status_code == 302 and resp["Location"] == "/jobs/"


@pytest.mark.parametrize("evil", EVIL)
def test_node_action_error_does_not_follow_a_foreign_next(admin_client, evil):
    resp = admin_client.post("/nodes/actions/", {"action": "probe", "next": evil})  # no nodes selected
    assert resp.status_code == 302 and resp["Location"] == "/nodes/"


def test_a_next_on_this_site_is_still_followed(admin_client, finished_job):
    resp = admin_client.post(f"/jobs/{finished_job.pk}/cancel/", {"next": f"/jobs/{finished_job.pk}/"})
    assert resp.status_code == 302 and resp["Location"] == f"/jobs/{finished_job.pk}/"
    resp = admin_client.post("/nodes/actions/", {"action": "probe", "next": "/nodes/?state=new"})
    assert resp["Location"] == "/nodes/?state=new"
