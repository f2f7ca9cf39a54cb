"""A node's life through the browser: add it from the list, edit it, power two nodes off through
the bulk bar's confirmation page, delete it after reading what goes with it. No lab needed: the
power jobs are only started (no worker here runs them)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.core.models import AuditEvent
from apps.jobs.models import Job
from apps.nodes import services
from apps.nodes.models import Node

from .conftest import login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

NODE_URL = re.compile(r"/nodes/(\d+)/$")


def test_add_edit_bulk_power_off_and_delete_a_node(live_server_url, make_user, page):
    root = make_user("root", superuser=True)
    other = services.create_node(root, name="web-02", address="10.0.0.42")
    login(page, live_server_url, "root")

    page.goto(f"{live_server_url}/nodes/")
    with page.expect_navigation(url=re.compile(r"/nodes/add/$")):
        page.click("#node-add")
    page.fill("#id_name", "web-01")
    page.fill("#id_address", "not an address!")
    page.fill("#id_labels", "gpu, a100")
    page.click('button[type="submit"]:has-text("Add node")')
    expect(page.locator("#id_address_error_1")).to_contain_text("IP address or a DNS name")
    assert not Node.objects.filter(name="web-01").exists()
    page.fill("#id_address", "10.0.0.41")
    with page.expect_navigation(url=NODE_URL):
        page.click('button[type="submit"]:has-text("Add node")')
    node = Node.objects.get(name="web-01")
    assert node.labels == ["gpu", "a100"]
    expect(page.locator("#node-labels")).to_contain_text("#a100")

    with page.expect_navigation(url=re.compile(rf"/nodes/{node.pk}/edit/$")):
        page.click("#node-edit")
    expect(page.locator("#id_labels")).to_have_value("gpu a100")
    page.fill("#id_labels", "gpu rack:7")
    with page.expect_navigation(url=NODE_URL):
        page.click('button[type="submit"]:has-text("Save")')
    expect(page.locator("#node-labels")).to_contain_text("#rack:7")
    node.refresh_from_db()
    assert node.labels == ["gpu", "rack:7"]

    page.goto(f"{live_server_url}/nodes/")
    for target in (node, other):
        page.check(f'#nodes input[name="pk"][value="{target.pk}"]')
    with page.expect_navigation(url=re.compile(r"/nodes/actions/$")):
        page.click('form[action="/nodes/actions/"] button[name="action"][value="off"]')
    expect(page.locator("h1")).to_have_text("Power off 2 nodes?")
    expect(page.locator("#confirm-effect")).to_contain_text("like pulling the plug")
    expect(page.locator("#confirm-no-bmc")).to_contain_text("web-01, web-02")
    expect(page.locator(".kit-confirm-objects li")).to_have_count(2)
    assert not Job.objects.exists()  # asking started nothing
    with page.expect_navigation(url=re.compile(r"/jobs/$")):
        page.click('button[name="confirm"][value="yes"]')
    expect(page.locator(".messages")).to_contain_text("Started 2 jobs.")
    assert sorted(Job.objects.filter(kind="nodes.power").values_list("target_repr", flat=True)) == ["web-01", "web-02"]

    page.goto(f"{live_server_url}/nodes/{node.pk}/")
    with page.expect_navigation(url=re.compile(rf"/nodes/{node.pk}/delete/$")):
        page.click("#node-delete")
    expect(page.locator("h1")).to_have_text("Delete node web-01?")
    expect(page.locator(".kit-confirm .alert")).to_contain_text("0 host keys, no BMC")
    with page.expect_navigation(url=re.compile(r"/nodes/$")):
        page.click('button[name="confirm"][value="yes"]')
    expect(page.locator(".messages")).to_contain_text("Deleted web-01.")
    assert list(Node.objects.values_list("name", flat=True)) == ["web-02"]
    assert [a for a in AuditEvent.objects.filter(object_repr="web-01").order_by("pk").values_list("action", flat=True)
            if a.startswith("node.")] == ["node.create", "node.update", "node.delete"]
