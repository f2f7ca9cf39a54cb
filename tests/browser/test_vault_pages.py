"""A secret with destinations created, edited and deleted through the browser: errors appear under
the field, the value field is never filled in by the page, and delete asks first."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.core.models import AuditEvent
from apps.keyvault.models import Secret

from .conftest import login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.live]

VALUE = "browser-Value-7f3Kq"


def test_secret_with_destinations_create_edit_delete(live_server_url, make_user, page):
    make_user("vaulter", superuser=True)
    login(page, live_server_url, "vaulter")
    page.goto(f"{live_server_url}/keyvault/")
    expect(page.locator("#kit-empty-title")).to_have_text("No secrets you may see")
    with page.expect_navigation(url=re.compile(r"/keyvault/new/$")):
        page.click("#new-secret")

    # A bad destination: the page says so under the field and does not send the value back.
    page.fill("#id_name", "bmc-fleet")
    page.select_option("#id_kind", "password")
    page.fill("#id_destinations", "10.30.0.0/16\n10.30.0.0/33")
    page.fill("#id_value", VALUE)
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    expect(page.locator("#id_destinations_error_1")).to_contain_text("'10.30.0.0/33' is neither a CIDR nor a host name")
    expect(page.locator("#id_value")).to_have_value("")
    assert VALUE not in page.content() and not Secret.objects.exists()

    page.fill("#id_destinations", "10.30.0.0/16\nBMC07.example.org")
    page.fill("#id_value", VALUE)
    with page.expect_navigation(url=re.compile(r"/keyvault/\d+/$")):
        page.get_by_role("button", name="Save").click()
    secret = Secret.objects.get(name="bmc-fleet")
    expect(page.locator("#secret-destinations")).to_have_text("10.30.0.0/16, bmc07.example.org")
    assert secret.destinations == ["10.30.0.0/16", "bmc07.example.org"] and VALUE not in page.content()

    # Edit: the value field starts empty; left empty, the value (and its version) stay.
    with page.expect_navigation(url=re.compile(rf"/keyvault/{secret.pk}/edit/$")):
        page.click("#edit-secret")
    expect(page.locator("#id_value")).to_have_value("")
    expect(page.locator("#id_destinations")).to_have_value("10.30.0.0/16\nbmc07.example.org")
    page.fill("#id_destinations", "10.30.0.0/16\n*.bmc.example.org")
    page.fill("#id_description", "fleet BMC login")
    with page.expect_navigation(url=re.compile(rf"/keyvault/{secret.pk}/$")):
        page.get_by_role("button", name="Save").click()
    expect(page.locator("#secret-destinations")).to_have_text("10.30.0.0/16, *.bmc.example.org")
    expect(page.locator("#secret")).to_contain_text("fleet BMC login")
    secret.refresh_from_db()
    assert secret.version == 1 and secret.description == "fleet BMC login"

    # Delete asks first, names the secret; only the confirm button deletes.
    with page.expect_navigation(url=re.compile(rf"/keyvault/{secret.pk}/delete/$")):
        page.click("#delete-secret")
    expect(page.locator("h1")).to_have_text("Delete secret bmc-fleet?")
    expect(page.locator(".kit-confirm-objects")).to_contain_text("bmc-fleet")
    assert Secret.objects.filter(pk=secret.pk).exists()
    with page.expect_navigation(url=re.compile(r"/keyvault/$")):
        page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Deleted bmc-fleet.")).to_be_visible()
    assert not Secret.objects.filter(pk=secret.pk).exists()
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="keyvault.secret.").order_by("pk")] == [
        "keyvault.secret.create", "keyvault.secret.update", "keyvault.secret.delete"]
