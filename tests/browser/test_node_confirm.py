"""A bulk power action through the browser: the list's button asks first, names every node and
what will happen; only the confirm button starts the jobs, which then run against the lab's BMCs."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.jobs.models import Job

from ..conftest import wait_for_job
from .conftest import login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.live]

ADMIN = "root"


def test_bulk_power_cycle_confirms_then_runs(live_worker, live_server_url, fleet, page):  # noqa: F811
    names = sorted(fleet["nodes"])
    login(page, live_server_url, ADMIN)
    page.goto(f"{live_server_url}/nodes/")
    for name in names:
        page.check(f'#nodes input[name="pk"][value="{fleet["nodes"][name].pk}"]')
    with page.expect_navigation(url=re.compile(r"/nodes/actions/$")):
        page.click('form[action="/nodes/actions/"] button[name="action"][value="cycle"]')

    expect(page.locator("h1")).to_have_text("Power cycle 3 nodes?")
    expect(page.locator("#confirm-effect")).to_contain_text("turns the power off and on again")
    expect(page.locator(".kit-confirm-objects li")).to_have_count(3)
    for name in names:
        expect(page.locator(".kit-confirm-objects")).to_contain_text(name)
    assert Job.objects.count() == 0  # asking started nothing

    with page.expect_navigation(url=re.compile(r"/jobs/$")):
        page.click('button[name="confirm"][value="yes"]')
    expect(page.locator(".messages")).to_contain_text("Started 3 jobs.")
    jobs = list(Job.objects.filter(kind="nodes.power"))
    assert sorted(j.target_repr for j in jobs) == names and {j.params["action"] for j in jobs} == {"cycle"}
    for job in jobs:
        assert wait_for_job(job.pk, timeout=60).status == "succeeded", job.target_repr


def test_cancel_on_the_confirmation_goes_back_without_acting(live_server_url, fleet, page):  # noqa: F811
    node = fleet["nodes"][sorted(fleet["nodes"])[0]]
    login(page, live_server_url, ADMIN)
    page.goto(f"{live_server_url}/nodes/{node.pk}/")
    with page.expect_navigation(url=re.compile(rf"/nodes/{node.pk}/actions/$")):
        page.click('button[name="action"][value="off"]')
    expect(page.locator("h1")).to_have_text(f"Power off node {node.name}?")
    with page.expect_navigation(url=re.compile(rf"/nodes/{node.pk}/$")):
        page.click("#confirm-cancel")
    assert not Job.objects.filter(kind="nodes.power").exists()
