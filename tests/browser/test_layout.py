"""The page kit's layout in a real browser: on a 390 px phone the navbar collapses behind its
toggler and no page is wider than the screen; the theme follows the system colour scheme; no
request on the way fails (favicon included) and no script raises."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from apps.nodes.models import Node

from .conftest import DEFAULT_TIMEOUT_MS, login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live, pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
PAGES = ["/", "/nodes/", "/nodes/{pk}/", "/jobs/", "/projects/", "/keyvault/", "/audit/", "/no-such-page/"]


def _context_page(browser, **options):
    context = browser.new_context(**options)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console: {msg.text}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
    return context, page, problems


def test_phone_width_collapses_the_navbar_and_fits_the_screen(browser, live_server_url, make_user):
    make_user("phone", superuser=True)
    for i in range(3):  # rows with long values: the tables must scroll inside, not widen the page
        Node.objects.create(name=f"gpu-node-with-a-rather-long-name-{i:02d}", address=f"10.20.30.{i + 1}",
                            labels=["rack-a17-row-3", "a100-80gb", "infiniband-hdr"])
    context, page, problems = _context_page(browser, viewport=PHONE, color_scheme="dark")
    try:
        login(page, live_server_url, "phone")
        toggler = page.locator("header .navbar-toggler")
        expect(toggler).to_be_visible()
        expect(page.locator("#main-nav")).to_be_hidden()
        toggler.click()
        expect(page.get_by_role("link", name="Nodes", exact=True)).to_be_visible()
        expect(page.locator("header").get_by_role("button", name="Log out")).to_be_visible()
        for path in PAGES:
            response = page.goto(live_server_url + path.format(pk=Node.objects.first().pk))
            if path == "/no-such-page/":  # the one intended 404: its own load is not a problem
                assert response.status == 404
                problems[:] = [p for p in problems if "404" not in p]
            assert not problems, (path, problems)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width} px wide on a {PHONE['width']} px screen"
            assert page.evaluate("document.documentElement.dataset.bsTheme") == "dark", path
        assert not problems, problems
    finally:
        context.close()


def test_desktop_shows_the_navbar_and_follows_a_light_system_theme(browser, live_server_url, make_user):
    make_user("desk", superuser=True)
    context, page, problems = _context_page(browser, viewport={"width": 1280, "height": 800},
                                            color_scheme="light")
    try:
        login(page, live_server_url, "desk")
        expect(page.locator("header .navbar-toggler")).to_be_hidden()
        expect(page.get_by_role("link", name="Dashboard", exact=True)).to_have_attribute("aria-current", "page")
        assert page.evaluate("document.documentElement.dataset.bsTheme") == "light"
        page.emulate_media(color_scheme="dark")  # the system switches: the page follows live
        page.wait_for_function("document.documentElement.dataset.bsTheme === 'dark'")
        response = page.goto(live_server_url + "/favicon.ico")
        assert response.ok and "svg" in response.headers["content-type"]
        assert not problems, problems
    finally:
        context.close()


AXE = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.filter(v => ["serious", "critical"].includes(v.impact))
    .map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(" ") + " " + n.failureSummary).join(", ")}`);
}"""


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_layout_pages_have_no_serious_accessibility_violations(browser, live_server_url, make_user, color_scheme):
    """axe-core (vendored) on the pages the kit owns outright: login, the signed-in layout's 404."""
    make_user("a11y", superuser=True)
    context, page, problems = _context_page(browser, viewport=PHONE, color_scheme=color_scheme)
    try:
        page.goto(live_server_url + "/accounts/login/")
        page.add_script_tag(path=str(AXE))
        assert page.evaluate(AXE_RUN) == [], "login page"
        login(page, live_server_url, "a11y")
        page.goto(live_server_url + "/no-such-page/")
        page.locator("header .navbar-toggler").click()  # audit the open menu too
        expect(page.locator("#main-nav")).to_be_visible()
        page.add_script_tag(path=str(AXE))
        assert page.evaluate(AXE_RUN) == [], "404 page"
    finally:
        context.close()
