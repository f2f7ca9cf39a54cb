"""Jobs API: bad input, visibility, events paging. No worker: jobs stay queued here."""
import pytest
from apps.core.models import AuditEvent
from apps.jobs import services
from apps.jobs.models import Job
from devtools.queries import count_queries

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    """These tests check the API surface only; keep jobs from reaching a broker."""
    monkeypatch.setattr(services, "enqueue", lambda job: None)


def test_unknown_kind_is_a_400_naming_the_field(make_user, api):
    resp = api(make_user("root", superuser=True)).post("/api/v1/jobs/", {"kind": "nope.nothing"}, format="json")
    assert resp.status_code == 400
    assert "Unknown job kind 'nope.nothing'" in resp.json()["kind"][0]
    assert "core.selfcheck" in resp.json()["kind"][0]


@pytest.mark.parametrize("params, field", [
    ({"count": "many"}, "count"),
    ({"count": 0}, "count"),
    ({"rate": -1}, "rate"),
    ({"bogus": 1}, "bogus"),
])
def test_malformed_params_are_a_400_naming_the_parameter(make_user, api, params, field):
    resp = api(make_user("root", superuser=True)).post(
        "/api/v1/jobs/", {"kind": "core.pulse", "params": params}, format="json")
    assert resp.status_code == 400, resp.content
    assert field in resp.json()["params"]


def test_params_must_be_an_object(make_user, api):
    client = api(make_user("root", superuser=True))
    resp = client.post("/api/v1/jobs/", {"kind": "core.pulse", "params": [1, 2]}, format="json")
    assert resp.status_code == 400 and "params" in resp.json()
    resp = client.post("/api/v1/jobs/", {"kind": "core.selfcheck", "params": {"x": 1}}, format="json")
    assert resp.status_code == 400 and "takes no parameters" in resp.json()["params"][0]
    resp = client.post("/api/v1/jobs/", {}, format="json")
    assert resp.status_code == 400 and "kind" in resp.json()


def test_starting_needs_the_kinds_permission(make_user, api):
    resp = api(make_user("nobody")).post("/api/v1/jobs/", {"kind": "core.selfcheck"}, format="json")
    assert resp.status_code == 403
    assert "permission" in resp.json()["detail"]
    assert not Job.objects.exists()


def test_anonymous_gets_401(api):
    assert api().get("/api/v1/jobs/").status_code in (401, 403)
    assert api().post("/api/v1/jobs/", {"kind": "core.selfcheck"}, format="json").status_code in (401, 403)


def test_users_see_only_their_jobs_unless_permitted(make_user, api):
    alice = make_user("alice", "jobs.run_selfcheck")
    bob = make_user("bob", "jobs.run_selfcheck")
    staff_viewer = make_user("carol", "jobs.view_job", "rbac.unrestricted", staff=True)
    mine = services.start_job(alice, "core.selfcheck")
    theirs = services.start_job(bob, "core.selfcheck")
    listed = [j["id"] for j in api(alice).get("/api/v1/jobs/").json()["results"]]
    assert listed == [mine.pk]
    assert api(alice).get(f"/api/v1/jobs/{theirs.pk}/").status_code == 404
    assert api(alice).get(f"/api/v1/jobs/{theirs.pk}/events/").status_code == 404
    assert api(alice).post(f"/api/v1/jobs/{theirs.pk}/cancel/").status_code == 404
    assert api(alice).post(f"/api/v1/jobs/{theirs.pk}/retry/").status_code == 404
    assert sorted(j["id"] for j in api(staff_viewer).get("/api/v1/jobs/").json()["results"]) == [mine.pk, theirs.pk]
    # Seeing is not cancelling: staff with view permission only may not cancel bob's job.
    resp = api(staff_viewer).post(f"/api/v1/jobs/{theirs.pk}/cancel/")
    assert resp.status_code == 403


def test_cancel_of_a_queued_job_ends_it_and_is_audited(make_user, api):
    alice = make_user("alice", "jobs.run_selfcheck")
    job = services.start_job(alice, "core.selfcheck")
    resp = api(alice).post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert resp.status_code == 202 and resp.json()["status"] == "cancelled"
    audit = AuditEvent.objects.get(action="job.cancel", object_id=str(job.pk))
    assert audit.actor == alice and audit.changes["before"] == {"status": "queued"}
    resp = api(alice).post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert resp.status_code == 409 and "already ended (cancelled)" in resp.json()["detail"]


def test_retry_of_an_active_job_is_a_409(make_user, api):
    alice = make_user("alice", "jobs.run_selfcheck")
    job = services.start_job(alice, "core.selfcheck")
    resp = api(alice).post(f"/api/v1/jobs/{job.pk}/retry/")
    assert resp.status_code == 409 and "still queued" in resp.json()["detail"]


def test_events_after_and_limit(make_user, api):
    from apps.jobs.events import append_event

    alice = make_user("alice", "jobs.run_selfcheck")
    job = services.start_job(alice, "core.selfcheck")
    for i in range(10):
        append_event(job.pk, "log", f"line {i}", publish=False)
    client = api(alice)
    seqs = [e["seq"] for e in client.get(f"/api/v1/jobs/{job.pk}/events/?after=3&limit=4").json()]
    assert seqs == [4, 5, 6, 7]
    resp = client.get(f"/api/v1/jobs/{job.pk}/events/?after=x")
    assert resp.status_code == 400 and "after" in resp.json()


def test_start_is_audited_with_request_context(make_user, client):
    alice = make_user("alice", "jobs.run_selfcheck")
    client.force_login(alice)
    resp = client.post("/api/v1/jobs/", {"kind": "core.selfcheck"}, content_type="application/json",
                       HTTP_X_REQUEST_ID="req-123")
    assert resp.status_code == 202
    audit = AuditEvent.objects.get(action="job.start")
    assert audit.actor == alice and audit.request_id == "req-123" and audit.ip == "127.0.0.1"
    assert audit.changes["after"]["kind"] == "core.selfcheck"


def test_job_list_query_count_does_not_grow_with_rows(make_user, api):
    alice = make_user("alice", "jobs.run_selfcheck")
    client = api(alice)
    services.start_job(alice, "core.selfcheck")
    with count_queries() as small:
        assert client.get("/api/v1/jobs/").status_code == 200
    for _ in range(20):
        services.start_job(alice, "core.selfcheck")
    with count_queries() as large:
        assert client.get("/api/v1/jobs/").status_code == 200
    assert small.count > 0 and large.count == small.count
