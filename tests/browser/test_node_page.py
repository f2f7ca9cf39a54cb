"""The node pages in a real browser against the real lab: Chromium -> daphne -> Celery worker ->
sshd hosts in network namespaces, with the per-host results streamed to the job page."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.jobs.models import Job, JobEvent
from apps.nodes.models import HostKey, Node

from ..conftest import wait_for_job
from .conftest import login
from .test_job_page import JOB_URL, record_websockets

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.live]

WAIT_MS = 45_000  # worker pick-up plus SSH connects to every lab host
ADMIN = "root"  # the superuser the fleet fixture creates (make_user's default password)


def land_on_job(page, click) -> tuple[int, str]:
    """Click (which posts a form that starts a job), land on /jobs/<id>/; returns the id and the
    status the server rendered. Marks the window so a later reload would show."""
    with page.expect_navigation(url=JOB_URL) as landing:
        click()
    response = landing.value
    job_id = int(JOB_URL.search(page.url).group(1))
    page.evaluate("window.__marker = %d" % job_id)
    body = response.text()
    status = re.search(r'id="job-status" class="badge status-(\w+)"', body).group(1)
    # The server draws no host rows at all: every row on the page comes from the websocket.
    assert re.search(r'id="job-hosts">.*?<tbody></tbody>', body, re.S), "host rows rendered by the server"
    return job_id, status


def host_rows(page) -> list[list[str]]:
    return page.locator("#job-hosts tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))")


def test_bulk_connection_test_streams_host_results(live_worker, live_server_url, fleet, page):  # noqa: F811
    names = sorted(fleet["nodes"])
    assert len(names) == 3
    login(page, live_server_url, ADMIN)
    sockets, frames = record_websockets(page)
    navigations: list[str] = []

    page.goto(f"{live_server_url}/nodes/")
    expect(page.locator('#nodes input[name="pk"]')).to_have_count(3)
    for name in names:
        page.check(f'#nodes input[name="pk"][value="{fleet["nodes"][name].pk}"]')
    job_id, rendered_status = land_on_job(
        page, lambda: page.click('form[action="/nodes/actions/"] button[name="action"][value="test-connection"]'))
    page.on("framenavigated", lambda frame: frame == page.main_frame and navigations.append(frame.url))

    rows = page.locator("#job-hosts tbody tr")
    expect(rows).to_have_count(3, timeout=WAIT_MS)
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=WAIT_MS)
    expect(page.locator("#job-progress")).to_have_attribute("aria-valuenow", "100")
    shown = host_rows(page)
    assert sorted(r[0] for r in shown) == names, shown
    assert [r[1] for r in shown] == ["ok"] * 3, shown
    assert all(re.fullmatch(r"connected in \d+ ms; sudo ok", r[2]) for r in shown), shown
    expect(rows.locator("td.ok")).to_have_count(3)
    expect(page.locator("#job-error")).to_be_hidden()

    # Applied in place: no reload, no navigation since landing.
    assert page.evaluate("window.__marker") == job_id
    assert navigations == []
    # The rows came over this job's websocket as host events, one per lab host.
    ws_path = f"{live_server_url.replace('http', 'ws', 1)}/ws/jobs/{job_id}/"
    assert sockets and all(url.startswith(f"{ws_path}?after=") for url in sockets), sockets
    received = [e for frame in frames for e in frame]
    host_events = [e for e in received if e["kind"] == "host"]
    assert sorted(e["host"] for e in host_events) == names, received
    assert all(e["data"]["ok"] and e["data"]["sudo"] for e in host_events), host_events
    assert [r[0] for r in shown] == [e["host"] for e in host_events]  # in the order they streamed
    assert received[-1]["kind"] == "status" and received[-1]["message"] == "succeeded"
    if rendered_status in ("queued", "running"):
        # Landed mid-job: the end was pushed after the first (replay) frame.
        assert len(frames) > 1 and frames[-1][-1]["message"] == "succeeded", frames

    job = wait_for_job(job_id)
    assert job.status == "succeeded", job.error
    assert job.kind == "nodes.test_connection" and sorted(job.params["nodes"]) == sorted(n.pk for n in fleet["nodes"].values())
    assert JobEvent.objects.filter(job=job, kind="host").count() == 3
    assert set(Node.objects.values_list("state", flat=True)) == {"ready"}


def test_unknown_host_key_pending_then_approved_in_the_page(live_worker, live_server_url, fleet, lab_inventory,
                                                            page):  # noqa: F811
    node = fleet["nodes"]["lab-node1"]
    fp = lab_inventory.host("lab-node1").fingerprint
    node.host_keys.all().delete()
    login(page, live_server_url, ADMIN)
    sockets, frames = record_websockets(page)

    response = page.goto(f"{live_server_url}/nodes/{node.pk}/")
    assert response.status == 200
    expect(page.locator("#host-keys tbody")).to_contain_text("No host key recorded yet")
    job_id, _ = land_on_job(page, lambda: page.click("#test-connection"))

    expect(page.locator("#job-status")).to_have_text("failed", timeout=WAIT_MS)
    rows = page.locator("#job-hosts tbody tr")
    expect(rows).to_have_count(1)
    [[host, result, message]] = host_rows(page)
    assert (host, result) == ("lab-node1", "failed"), message
    assert "unknown host key" in message and fp in message and "recorded as pending" in message, message
    expect(rows.locator("td.bad")).to_have_count(1)
    expect(page.locator("#job-error")).to_be_visible()
    expect(page.locator("#job-error")).to_contain_text("unknown host key")
    assert page.evaluate("window.__marker") == job_id
    received = [e for frame in frames for e in frame]
    assert [(e["host"], e["data"]["ok"]) for e in received if e["kind"] == "host"] == [("lab-node1", False)]
    job = wait_for_job(job_id)
    assert job.status == "failed" and "unknown host key" in job.error

    # The node page shows the offered key as pending, with an Approve button.
    page.goto(f"{live_server_url}/nodes/{node.pk}/")
    key_rows = page.locator("#host-keys tbody tr")
    expect(key_rows).to_have_count(1)
    row = key_rows.first
    expect(row).to_contain_text("Pending approval")
    expect(row.locator("code")).to_have_text(fp)
    approve = row.locator('button[name="action"][value="approve-key"]')
    expect(approve).to_have_text("Approve")
    with page.expect_navigation(url=re.compile(rf"/nodes/{node.pk}/$")):
        approve.click()
    expect(page.locator(".messages")).to_contain_text(f"Host key {fp} trusted.")
    expect(key_rows.first).to_contain_text("Trusted")
    expect(key_rows.first.locator('button[value="approve-key"]')).to_have_count(0)
    key = HostKey.objects.get(node=node)
    assert key.state == "trusted" and key.fingerprint == fp and key.decided_by.username == ADMIN

    # Re-running the test from the node page now succeeds, streamed to the same kind of page.
    retry_id, _ = land_on_job(page, lambda: page.click("#test-connection"))
    assert retry_id != job_id
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=WAIT_MS)
    expect(page.locator("#job-hosts tbody tr")).to_have_count(1)
    [[host, result, message]] = host_rows(page)
    assert (host, result) == ("lab-node1", "ok"), message
    assert page.evaluate("window.__marker") == retry_id
    assert any(url.startswith(f"{live_server_url.replace('http', 'ws', 1)}/ws/jobs/{retry_id}/?after=")
               for url in sockets), sockets
    retry = wait_for_job(retry_id)
    assert retry.status == "succeeded", retry.error
    assert Job.objects.filter(kind="nodes.test_connection").count() == 2
    node.refresh_from_db()
    assert node.state == "ready"
