"""The websocket path against real daphne + worker: replay then live, no gap, no duplicate;
refusal for users who may not see the job."""
import pytest
from websockets.exceptions import InvalidStatus

from apps.jobs import services
from apps.jobs.models import JobEvent

from ..conftest import wait_for
from ..wsclient import collect_until_final, open_job_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]


def _seqs(events):
    return [e["seq"] for e in events]


def test_replay_then_live_has_no_gap_and_no_duplicate(live_worker, live_server_url, make_user):
    user = make_user("ops", "jobs.run_diagnostics")
    job = services.start_job(user, "core.pulse", {"count": 400, "rate": 200})
    # Join in the middle: part of the log is replayed from the database, the rest arrives live.
    wait_for(lambda: JobEvent.objects.filter(job=job, kind="log").count() >= 100, message="first events")
    with open_job_socket(live_server_url, user, job.pk) as ws:
        events = collect_until_final(ws)
    stored = list(JobEvent.objects.filter(job=job).order_by("seq").values_list("seq", flat=True))
    assert _seqs(events) == stored == list(range(1, len(stored) + 1))
    assert sum(1 for e in events if e["kind"] == "log") == 400


def test_resume_after_a_sequence_number(live_worker, live_server_url, make_user):
    user = make_user("ops", "jobs.run_diagnostics")
    job = services.start_job(user, "core.pulse", {"count": 50, "rate": 500})
    wait_for(lambda: job.__class__.objects.get(pk=job.pk).status == "succeeded", message="job done")
    total = JobEvent.objects.filter(job=job).count()
    with open_job_socket(live_server_url, user, job.pk, after=20) as ws:
        events = collect_until_final(ws)
    assert _seqs(events) == list(range(21, total + 1))


def test_two_viewers_see_the_same_stream(live_worker, live_server_url, make_user):
    user = make_user("ops", "jobs.run_diagnostics")
    admin = make_user("boss", superuser=True)
    job = services.start_job(user, "core.pulse", {"count": 150, "rate": 300})
    with open_job_socket(live_server_url, user, job.pk) as a, open_job_socket(live_server_url, admin, job.pk) as b:
        first, second = collect_until_final(a), collect_until_final(b)
    assert _seqs(first) == _seqs(second) == list(range(1, len(first) + 1))


def test_websocket_refuses_users_who_may_not_see_the_job(live_worker, live_server_url, make_user):
    owner = make_user("owner", "jobs.run_diagnostics")
    stranger = make_user("stranger")
    staff_without_perm = make_user("staffer", staff=True)
    job = services.start_job(owner, "core.pulse", {"count": 3, "rate": 100})
    for user in (stranger, staff_without_perm):
        with pytest.raises(InvalidStatus) as refused:
            open_job_socket(live_server_url, user, job.pk)
        assert refused.value.response.status_code == 403
    # Staff with the view permission may watch.
    viewer = make_user("viewer", "jobs.view_job", "rbac.unrestricted", staff=True)
    with open_job_socket(live_server_url, viewer, job.pk) as ws:
        assert collect_until_final(ws)


def test_websocket_refuses_anonymous_and_foreign_origin(live_server_url, make_user):
    from websockets.sync.client import connect

    owner = make_user("owner", "jobs.run_selfcheck")
    job = services.start_job(owner, "core.selfcheck")
    ws_url = live_server_url.replace("http://", "ws://") + f"/ws/jobs/{job.pk}/"
    with pytest.raises(InvalidStatus):
        connect(ws_url, origin=live_server_url, open_timeout=5)
    with pytest.raises(InvalidStatus):
        open_job_socket(live_server_url, owner, job.pk, origin="http://evil.example")
