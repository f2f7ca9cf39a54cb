"""A project and its members through the browser: create the project, add a member (a refusal
first, shown under the field), change the member's role, remove them after the confirmation,
delete the project after its confirmation; each step through the pages' own forms and links."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.core.models import AuditEvent
from apps.rbac.models import Membership, Project

from .conftest import login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live, pytest.mark.browser]


def test_project_with_a_member_created_changed_and_deleted_through_the_browser(live_server_url, page, make_user):
    make_user("chief", superuser=True)
    mia = make_user("mia")
    login(page, live_server_url, "chief")

    page.goto(f"{live_server_url}/projects/")
    with page.expect_navigation(url=re.compile(r"/projects/new/$")):
        page.click("#project-add")
    page.get_by_label("Name").fill("browser-team")
    page.get_by_label("Description").fill("made in a browser")
    with page.expect_navigation(url=re.compile(r"/projects/\d+/$")):
        page.get_by_role("button", name="Create project").click()
    project = Project.objects.get(name="browser-team")
    expect(page.locator("h1")).to_have_text("Project browser-team")
    expect(page.locator(".messages")).to_contain_text("Created project browser-team.")

    # An unknown user: the form page again, the refusal under the user name field.
    page.fill("#member_username", "ghost")
    with page.expect_navigation(url=re.compile(rf"/projects/{project.pk}/members/$")):
        page.get_by_role("button", name="Add member").click()
    expect(page.locator("#id_username_error_1")).to_have_text("No active user named 'ghost'.")
    page.get_by_label("User name").fill("mia")
    page.get_by_label("Role").select_option("member")
    with page.expect_navigation(url=re.compile(rf"/projects/{project.pk}/$")):
        page.get_by_role("button", name="Add member").click()
    expect(page.locator('#members tr[data-member="mia"]')).to_contain_text("Member")

    with page.expect_navigation(url=re.compile(r"/members/mia/$")):
        page.get_by_role("link", name="Change the role of mia").click()
    page.get_by_label("Role").select_option("viewer")
    with page.expect_navigation(url=re.compile(rf"/projects/{project.pk}/$")):
        page.get_by_role("button", name="Change role").click()
    expect(page.locator('#members tr[data-member="mia"]')).to_contain_text("Viewer")
    assert Membership.objects.get(project=project, user=mia).role == "viewer"

    with page.expect_navigation(url=re.compile(r"/members/mia/remove/$")):
        page.get_by_role("link", name="Remove mia").click()
    expect(page.locator("h1")).to_have_text("Remove mia from browser-team?")
    assert Membership.objects.filter(project=project, user=mia).exists()  # asking removed nothing
    with page.expect_navigation(url=re.compile(rf"/projects/{project.pk}/$")):
        page.get_by_role("button", name="Remove member").click()
    expect(page.locator('#members tr[data-member="mia"]')).to_have_count(0)

    with page.expect_navigation(url=re.compile(rf"/projects/{project.pk}/delete/$")):
        page.click("#project-delete")
    expect(page.locator(".kit-confirm .alert")).to_contain_text("will be deleted")
    with page.expect_navigation(url=re.compile(r"/projects/$")):
        page.get_by_role("button", name="Delete project").click()
    expect(page.locator(".messages")).to_contain_text("Deleted browser-team.")
    assert not Project.objects.filter(name="browser-team").exists()
    assert list(AuditEvent.objects.filter(action__startswith="project.").order_by("pk")
                .values_list("action", flat=True)) == [
        "project.create", "project.member_set", "project.member_set", "project.member_remove", "project.delete"]


def test_project_job_and_audit_pages_have_no_serious_accessibility_violations(live_server_url, page, make_user):
    from apps.core.audit import record_audit
    from apps.rbac import services

    from .test_layout import AXE, AXE_RUN

    chief = make_user("chief", superuser=True)
    project = services.create_project(chief, "a11y-team", "described", gpu_quota=4, owner=chief)
    services.add_member(chief, project, make_user("mia").username)
    record_audit("node.update", actor=chief, before={"state": "new"}, after={"state": "ready"})
    login(page, live_server_url, "chief")
    for path in ("/projects/", f"/projects/{project.pk}/", f"/projects/{project.pk}/members/mia/",
                 f"/projects/{project.pk}/delete/", "/projects/new/", "/jobs/", "/audit/?action_prefix=node."):
        page.goto(f"{live_server_url}{path}")
        page.add_script_tag(path=str(AXE))
        assert page.evaluate(AXE_RUN) == [], path
