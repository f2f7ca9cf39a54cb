"""Server-rendered pages and admin for jobs: permission checks, filters, actions."""
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.jobs import services
from apps.jobs.events import append_event, append_events
from apps.jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr(services, "enqueue", lambda job: None)


def test_pages_need_login(client):
    for url in ["/", "/jobs/", "/jobs/1/"]:
        resp = client.get(url)
        assert resp.status_code == 302 and resp["Location"].startswith("/accounts/login/")


def test_dashboard_shows_real_counts_and_start_button(client, make_user):
    alice = make_user("alice", "jobs.run_selfcheck")
    for _ in range(3):
        services.start_job(alice, "core.selfcheck")
    Job.objects.filter(pk=Job.objects.first().pk).update(status="failed")
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert '<span class="num" data-count="jobs-total">3</span>' in html
    assert '<span class="num" data-count="jobs-active">2</span>' in html
    assert 'data-kind="core.selfcheck"' in html
    # A user without the permission sees no button.
    client.force_login(make_user("bob"))
    html = client.get("/").content.decode()
    assert 'data-kind="core.selfcheck"' not in html and 'data-count="jobs-total">0<' in html


def test_start_form_creates_job_and_redirects_to_live_page(client, make_user):
    alice = make_user("alice", "jobs.run_selfcheck")
    client.force_login(alice)
    resp = client.post("/jobs/start/", {"kind": "core.selfcheck"})
    job = Job.objects.get()
    assert resp.status_code == 302 and resp["Location"] == f"/jobs/{job.pk}/"
    page = client.get(resp["Location"]).content.decode()
    assert f'data-ws-path="/ws/jobs/{job.pk}/"' in page and 'id="job-progress"' in page


def test_start_form_without_permission_shows_error(client, make_user):
    client.force_login(make_user("bob"))
    resp = client.post("/jobs/start/", {"kind": "core.selfcheck"}, follow=True)
    assert "permission" in resp.content.decode() and not Job.objects.exists()


def test_job_list_filters_and_visibility(client, make_user):
    alice = make_user("alice", "jobs.run_selfcheck", "jobs.run_diagnostics")
    bob = make_user("bob", "jobs.run_selfcheck")
    a1 = services.start_job(alice, "core.selfcheck")
    a2 = services.start_job(alice, "core.pulse", {"count": 1})
    b1 = services.start_job(bob, "core.selfcheck")
    client.force_login(alice)
    html = client.get("/jobs/").content.decode()
    assert f'href="/jobs/{a1.pk}/"' in html and f'href="/jobs/{a2.pk}/"' in html
    assert f'href="/jobs/{b1.pk}/"' not in html
    html = client.get("/jobs/?kind=core.pulse").content.decode()
    assert f'href="/jobs/{a2.pk}/"' in html and f'href="/jobs/{a1.pk}/"' not in html
    assert client.get(f"/jobs/{b1.pk}/").status_code == 404
    assert client.post(f"/jobs/{b1.pk}/cancel/").status_code == 404


def test_cancel_and_retry_forms(client, make_user):
    alice = make_user("alice", "jobs.run_selfcheck")
    job = services.start_job(alice, "core.selfcheck")
    client.force_login(alice)
    client.post(f"/jobs/{job.pk}/cancel/")
    assert Job.objects.get(pk=job.pk).status == "cancelled"
    resp = client.post(f"/jobs/{job.pk}/retry/")
    retry = Job.objects.get(retry_of=job)
    assert resp["Location"] == f"/jobs/{retry.pk}/"
    resp = client.post(f"/jobs/{job.pk}/cancel/", {"next": f"/jobs/{job.pk}/"}, follow=True)
    assert "already ended" in resp.content.decode()


def test_admin_start_button_and_actions(client, make_user):
    admin = make_user("root", superuser=True)
    client.force_login(admin)
    changelist = client.get("/admin/jobs/job/").content.decode()
    assert 'data-kind="core.selfcheck"' in changelist
    resp = client.post("/admin/jobs/job/start/core.selfcheck/")
    job = Job.objects.get()
    assert resp["Location"] == f"/jobs/{job.pk}/"
    resp = client.post("/admin/jobs/job/", {"action": "cancel_jobs", "_selected_action": [job.pk]}, follow=True)
    assert Job.objects.get(pk=job.pk).status == "cancelled"
    client.post("/admin/jobs/job/", {"action": "retry_jobs", "_selected_action": [job.pk]})
    assert Job.objects.filter(retry_of=job).count() == 1
    assert set(AuditEvent.objects.values_list("action", flat=True)) >= {"job.start", "job.cancel", "job.retry"}
    assert client.get(f"/admin/jobs/job/{job.pk}/change/").status_code == 200
    assert client.get("/admin/core/auditevent/").status_code == 200


def test_admin_refuses_staff_without_permissions(client, make_user):
    client.force_login(make_user("staffer", staff=True))
    assert client.get("/admin/jobs/job/").status_code == 403
    assert client.post("/admin/jobs/job/start/core.selfcheck/").status_code in (302, 403)
    assert not Job.objects.exists()


def test_log_downloads_as_text_streamed_and_only_for_who_sees_the_job(client, make_user):
    alice = make_user("alice", "jobs.run_selfcheck")
    job = services.start_job(alice, "core.selfcheck")
    append_event(job.pk, "step", "Database", publish=False)
    append_event(job.pk, "log", "line one\nline two", host="gpu-01", data={"level": "warning"}, publish=False)
    client.force_login(alice)
    assert f'href="/jobs/{job.pk}/log.txt"' in client.get(f"/jobs/{job.pk}/").content.decode()
    resp = client.get(f"/jobs/{job.pk}/log.txt")
    assert resp.status_code == 200 and resp.streaming
    assert resp["Content-Type"].startswith("text/plain")
    assert resp["Content-Disposition"] == f'attachment; filename="job-{job.pk}.log.txt"'
    lines = b"".join(resp.streaming_content).decode().splitlines()
    assert lines[-3].endswith(" step Database")
    assert lines[-2].endswith(" [gpu-01] warning line one") and lines[-1] == "    line two"
    # Out of reach: the same 404 as the page, for a job of someone else and for no job at all.
    client.force_login(make_user("bob"))
    assert client.get(f"/jobs/{job.pk}/log.txt").status_code == 404
    assert client.get("/jobs/999999/log.txt").status_code == 404


def test_log_download_queries_do_not_grow_with_the_log(client, make_user):
    alice = make_user("alice", "jobs.run_selfcheck")
    client.force_login(alice)
    counts = []
    for size in (10, 1000):
        job = services.start_job(alice, "core.selfcheck")
        append_events(job.pk, [{"kind": "log", "message": f"m{i}", "ts": timezone.now()} for i in range(size)],
                      publish=False)
        with CaptureQueriesContext(connection) as ctx:
            body = b"".join(client.get(f"/jobs/{job.pk}/log.txt").streaming_content)
        assert body.count(b"\n") >= size
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts


def test_page_has_a_labelled_log_filter_and_buttons_drawn_for_the_jobs_state(client, make_user):
    alice = make_user("alice", "jobs.run_selfcheck")
    job = services.start_job(alice, "core.selfcheck")
    client.force_login(alice)
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    assert '<label for="job-log-filter">' in html and '<input type="search" id="job-log-filter"' in html
    # Queued: Cancel shows, Retry is drawn hidden for the page script to reveal when the job ends.
    assert '<span id="job-cancel-box">' in html and '<span id="job-retry-box" hidden>' in html
    Job.objects.filter(pk=job.pk).update(status="failed")
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    assert '<span id="job-cancel-box" hidden>' in html and '<span id="job-retry-box">' in html
    # Someone who may see the job but not start its kind gets no Retry at all.
    viewer = make_user("viewer", "jobs.view_job", "rbac.unrestricted")
    client.force_login(viewer)
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'id="job-retry"' not in html and 'id="job-log-filter"' in html


def test_ended_job_shows_each_steps_time_to_the_next_step_or_the_end(client, make_user):
    alice = make_user("alice", "jobs.run_selfcheck")
    job = services.start_job(alice, "core.selfcheck")
    t0 = timezone.now() - timedelta(minutes=5)
    append_events(job.pk, [{"kind": "step", "message": "Database", "ts": t0},
                           {"kind": "step", "message": "Redis <b>", "ts": t0 + timedelta(seconds=2.5)}], publish=False)
    client.force_login(alice)
    assert 'id="job-step-times"' not in client.get(f"/jobs/{job.pk}/").content.decode()  # still queued
    Job.objects.filter(pk=job.pk).update(status="succeeded", started_at=t0, finished_at=t0 + timedelta(seconds=75))
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    rows = html.split('id="job-step-times"')[1].split("</table>")[0].split("<tr>")[2:]
    assert "Database" in rows[0] and "<td>2.5 s</td>" in rows[0]
    assert "Redis &lt;b&gt;" in rows[1] and "<td>1 min 12 s</td>" in rows[1]


# --- the list on the page kit -------------------------------------------------------------------

def _job_ids(response):
    return [row.record.pk for row in response.context["table"].page.object_list]


def test_job_list_sorts_filters_with_chips_and_exports_the_filtered_list(client, make_user):
    import csv
    import io

    alice = make_user("alice", "jobs.run_selfcheck", "jobs.run_diagnostics")
    jobs = [services.start_job(alice, "core.selfcheck") for _ in range(3)]
    pulse = services.start_job(alice, "core.pulse", {"count": 1})
    Job.objects.filter(pk=jobs[0].pk).update(status="failed")
    client.force_login(alice)
    assert _job_ids(client.get("/jobs/?sort=id")) == [j.pk for j in jobs] + [pulse.pk]
    assert _job_ids(client.get("/jobs/?sort=-id"))[0] == pulse.pk
    response = client.get("/jobs/?status=failed&status=queued&kind=core.selfcheck")
    assert sorted(_job_ids(response)) == [j.pk for j in jobs]
    chips = {(c["label"], c["value"]) for c in response.context["active_filters"]}
    assert chips == {("Status", "Failed"), ("Status", "Queued"), ("Kind", "System self-check")}
    html = response.content.decode()
    assert '<span class="badge status-failed">Failed</span>' in html and "<time datetime=" in html
    export = client.get("/jobs/?status=failed&export=csv")
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0][:4] == ["#", "Kind", "Target", "Status"]
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [(str(jobs[0].pk), "core.selfcheck", "failed")]


def test_job_list_guides_when_there_are_no_jobs_and_its_queries_do_not_grow(client, make_user):
    alice = make_user("alice", "jobs.run_selfcheck")
    client.force_login(alice)
    response = client.get("/jobs/")
    assert response.context["is_empty"] and "No jobs yet" in response.content.decode()
    counts = []
    for size in (5, 40):
        while Job.objects.count() < size:
            services.start_job(alice, "core.selfcheck")
        with CaptureQueriesContext(connection) as ctx:
            assert len(_job_ids(client.get("/jobs/"))) == size
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
