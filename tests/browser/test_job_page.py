"""The live job page in a real browser: Chromium -> daphne (HTTP + websocket) -> Celery worker."""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from apps.jobs import services
from apps.jobs.events import append_event
from apps.jobs.models import Job, JobEvent

from ..conftest import wait_for_job
from .conftest import login
from .test_layout import AXE, AXE_RUN

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live, pytest.mark.browser]

WAIT_MS = 30_000  # for the job itself: worker pick-up plus run time
SELFCHECK_STEPS = ["Database", "Redis", "Celery workers", "A worker for every queue", "Disk space under var/", "Clock"]
JOB_URL = re.compile(r"/jobs/(\d+)/$")


def record_websockets(page) -> tuple[list[str], list[list[dict]]]:
    """Record the URL of every websocket the page opens and the job events of each frame received."""
    urls: list[str] = []
    frames: list[list[dict]] = []

    def on_websocket(ws):
        def on_frame(payload):
            if isinstance(payload, (bytes, bytearray)):
                payload = payload.decode()
            message = json.loads(payload)
            if message.get("type") == "events":
                frames.append(message["events"])
        urls.append(ws.url)
        ws.on("framereceived", on_frame)

    page.on("websocket", on_websocket)
    return urls, frames


def shown_seqs(page) -> list[int]:
    return [int(s) for s in page.locator("#job-log li").evaluate_all("els => els.map(e => e.dataset.seq)")]


def test_selfcheck_from_dashboard_streams_live(live_worker, live_server_url, make_user, page):
    make_user("admin", superuser=True)
    login(page, live_server_url, "admin")
    assert page.url == f"{live_server_url}/"
    sockets, frames = record_websockets(page)

    with page.expect_navigation(url=JOB_URL) as landing:
        page.click('button[data-kind="core.selfcheck"]')
    job_id = int(JOB_URL.search(page.url).group(1))
    rendered_status = re.search(r'id="job-status" class="badge status-(\w+)"', landing.value.text()).group(1)
    page.evaluate("window.__marker = 1")
    navigations = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and navigations.append(frame.url))

    expect(page.locator("#job-progress")).to_have_attribute("aria-valuenow", "100", timeout=WAIT_MS)
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=WAIT_MS)
    expect(page.locator("#job-steps li .name")).to_have_text(SELFCHECK_STEPS)
    # Each finished step says how long it took.
    expect(page.locator("#job-steps li .took")).to_have_text([re.compile(r"^\d+(\.\d)? s$|^\d+ min \d+ s$")] * len(SELFCHECK_STEPS))
    expect(page.locator("#job-live")).to_have_text(re.compile(r"live|complete"))

    # No reload and no navigation since landing: everything above was applied in place.
    assert page.evaluate("window.__marker") == 1
    assert navigations == []
    # The steps came over the job's websocket: the server-rendered page has no step list at all.
    ws_path = f"{live_server_url.replace('http', 'ws', 1)}/ws/jobs/{job_id}/"
    assert sockets[0] == f"{ws_path}?after=0", sockets
    assert all(url.startswith(f"{ws_path}?after=") for url in sockets), sockets
    received = [e for frame in frames for e in frame]
    assert [e["message"] for e in received if e["kind"] == "step"] == SELFCHECK_STEPS
    assert received[-1]["kind"] == "status" and received[-1]["message"] == "succeeded"
    seqs = shown_seqs(page)
    assert seqs == [e["seq"] for e in received] == list(range(1, len(seqs) + 1))
    if rendered_status in ("queued", "running"):
        # The page landed mid-job (the usual case: the worker check alone waits 1.5 s): the end
        # was pushed after the replay, not contained in the first frame.
        assert len(frames) > 1 and frames[-1][-1]["message"] == "succeeded", frames

    job = wait_for_job(job_id)
    assert job.status == "succeeded", job.error
    assert JobEvent.objects.filter(job=job).count() == len(seqs)


def test_reload_mid_job_shows_every_event_once(live_worker, live_server_url, make_user, page):
    user = make_user("ops", "jobs.run_diagnostics")
    job = services.start_job(user, "core.pulse", {"count": 100, "rate": 20})  # about 5 s
    login(page, live_server_url, "ops")
    page.goto(f"{live_server_url}/jobs/{job.pk}/")
    page.wait_for_function("document.querySelectorAll('#job-log li.ev-log').length >= 5", timeout=WAIT_MS)
    before = shown_seqs(page)
    assert before == list(range(1, len(before) + 1))

    response = page.reload()
    # The server rendered the reloaded page while the job was still running.
    rendered = re.search(r'id="job-status" class="badge status-(\w+)"', response.text())
    assert rendered and rendered.group(1) == "running", rendered
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=WAIT_MS)

    total = JobEvent.objects.filter(job=job).count()
    assert wait_for_job(job.pk).status == "succeeded"
    assert JobEvent.objects.filter(job=job).count() == total  # the final status event is the last
    seqs = shown_seqs(page)
    assert len(seqs) == len(set(seqs)), "an event was shown twice"
    assert seqs == list(range(1, total + 1))


def test_other_users_job_is_refused(live_worker, live_server_url, make_user, page):
    owner = make_user("owner", "jobs.run_diagnostics")
    theirs = services.start_job(owner, "core.pulse", {"count": 5, "rate": 100})
    assert wait_for_job(theirs.pk).status == "succeeded"
    assert JobEvent.objects.filter(job=theirs).count() > 5
    viewer = make_user("viewer")
    # A job of the viewer's own (never queued), as a control: the same websocket code gets events.
    own = Job.objects.create(kind="core.pulse", requester=viewer)
    append_event(own.pk, "status", "queued", data={"status": "queued"}, publish=False)

    login(page, live_server_url, "viewer")
    response = page.goto(f"{live_server_url}/jobs/{theirs.pk}/")
    assert response.status == 404
    assert "pulse" not in page.content()

    listen = """async (path) => {
        const ws = new WebSocket("ws://" + location.host + path);
        const seen = {opened: false, messages: []};
        ws.onopen = () => { seen.opened = true; };
        ws.onmessage = (m) => seen.messages.push(JSON.parse(m.data));
        return await new Promise((resolve) => {
            ws.onclose = (e) => resolve({...seen, closed: true, code: e.code});
            setTimeout(() => { ws.close(); resolve({...seen, closed: false}); }, 3000);
        });
    }"""
    refused = page.evaluate(listen, f"/ws/jobs/{theirs.pk}/")
    assert refused["closed"], refused
    assert refused["messages"] == [], refused
    assert not refused["opened"], refused

    allowed = page.evaluate(listen, f"/ws/jobs/{own.pk}/")
    assert not allowed["closed"], allowed  # stays open until we close it after 3 s
    assert [e["message"] for m in allowed["messages"] for e in m["events"]] == ["queued"]


def test_buttons_follow_the_state_and_the_log_filters_live(live_worker, live_server_url, make_user, page):
    user = make_user("ops", "jobs.run_diagnostics")
    job = services.start_job(user, "core.pulse", {"count": 100, "rate": 20})  # about 5 s
    login(page, live_server_url, "ops")
    page.goto(f"{live_server_url}/jobs/{job.pk}/")
    page.evaluate("window.__marker = 1")
    page.fill("#job-log-filter", "status:")  # set before most lines arrive: new lines obey it
    expect(page.locator("#job-cancel")).to_be_visible()
    expect(page.locator("#job-retry")).to_be_hidden()
    # While the step runs, its time so far ticks next to it; it goes once the job ends.
    expect(page.locator("#job-step-elapsed")).to_have_text(re.compile(r"^· \d+(\.\d)? s$"), timeout=WAIT_MS)

    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=WAIT_MS)
    expect(page.locator("#job-cancel")).to_be_hidden()
    expect(page.locator("#job-retry")).to_be_visible()
    expect(page.locator("#job-step-elapsed")).to_have_text("")
    # The end time and the duration were filled in too.
    expect(page.locator("#job-finished time")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "))
    expect(page.locator("#job-duration")).to_have_text(re.compile(r"^\d+(\.\d)? s$"))
    assert page.evaluate("window.__marker") == 1  # no reload

    visible = page.locator("#job-log li:visible .msg").all_text_contents()
    assert visible and all(m.startswith("status: ") for m in visible), visible
    assert page.locator("#job-log li").count() > len(visible)
    expect(page.locator("#job-log-count")).to_have_text(re.compile(rf"^{len(visible)} of \d+ lines$"))
    page.fill("#job-log-filter", "")
    assert page.locator("#job-log li:visible").count() == page.locator("#job-log li").count()

    # Drawn again after the end: the step timings table; the whole page passes axe-core.
    page.reload()
    expect(page.locator("#job-step-times tbody tr")).to_have_count(1)  # pulse logs one step
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(AXE_RUN)
    assert violations == [], "\n".join(violations)


def test_a_long_wait_moves_the_bar_and_says_what_it_waits_for(live_worker, live_server_url, make_user, page):
    from apps.jobs.runner import JobRunner

    user = make_user("ops")
    job = Job.objects.create(kind="nodes.power", status="running", requester=user)
    login(page, live_server_url, "ops")
    page.goto(f"{live_server_url}/jobs/{job.pk}/")
    expect(page.locator("#job-live")).not_to_have_text("○ offline", timeout=WAIT_MS)
    with JobRunner(job) as runner:
        runner.WAIT_REPORT_INTERVAL = 0
        runner.step("Waiting for power on (deadline 300 s)", progress=10)
        sleep = runner.waiting("power on", 0.4, start=10)
        for _ in range(3):
            sleep(0.1)
        expect(page.locator("#job-waiting")).to_have_text(re.compile(r"^Waiting for power on: \d s of at most 0.4 s$"))
        bar = int(page.locator("#job-progress").get_attribute("aria-valuenow"))
        assert 10 < bar <= 99
        runner.step("Done")
    expect(page.locator("#job-waiting")).to_have_text("")
