"""The fleet dashboard in a real browser: uPlot draws the jobs chart from the embedded JSON, no
script raises, nothing is wider than a 390 px phone, axe-core finds no serious or critical
violation (light and dark), and a number's link lands on the list of exactly the rows it counts."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.nodes.models import Node
from tests.core.test_dashboard import make_fleet, make_jobs

from .conftest import ARTIFACTS, login
from .test_layout import AXE, AXE_RUN, PHONE, _context_page

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live, pytest.mark.browser]


@pytest.mark.parametrize("viewport, color_scheme", [(PHONE, "dark"), ({"width": 1280, "height": 900}, "light")])
def test_dashboard_draws_its_chart_fits_and_is_accessible(browser, live_server_url, make_user, viewport,
                                                           color_scheme):
    boss = make_user("boss", superuser=True)
    make_fleet(boss, 30)
    make_jobs(boss, 40)
    context, page, problems = _context_page(browser, viewport=viewport, color_scheme=color_scheme)
    try:
        login(page, live_server_url, "boss")
        expect(page.locator('[data-chart="jobs-activity"] .uplot canvas')).to_have_count(1)
        expect(page.locator('[data-panel="nodes.fleet"]')).to_be_visible()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"dashboard-{viewport['width']}.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"the dashboard is {width} px wide on a {viewport['width']} px screen"
        page.add_script_tag(path=str(AXE))
        assert page.evaluate(AXE_RUN) == [], "dashboard"
        # The system theme switches: the chart is drawn again, once, with the new colours.
        page.emulate_media(color_scheme="light" if color_scheme == "dark" else "dark")
        page.wait_for_function(f"document.documentElement.dataset.bsTheme !== '{color_scheme}'")
        expect(page.locator('[data-chart="jobs-activity"] .uplot canvas')).to_have_count(1)
        assert not problems, problems
        # A number's link: the unreachable tile lands on exactly the unreachable nodes.
        page.click('[data-count="nodes-unreachable"]')
        expect(page.locator("#nodes tbody tr")).to_have_count(Node.objects.filter(state="unreachable").count())
        assert not problems, problems
    finally:
        context.close()
