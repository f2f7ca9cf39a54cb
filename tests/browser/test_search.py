"""Global search in a real browser: "/" focuses the navbar box (not while typing in a field), on a
phone it opens the collapsed menu first; the results page passes axe-core and fits 390 px."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.nodes.models import Node

from .conftest import login
from .test_layout import AXE, AXE_RUN, PHONE, _context_page

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live, pytest.mark.browser]


def test_slash_focuses_the_search_box_and_searching_lists_the_hits(browser, live_server_url, make_user):
    make_user("finder", superuser=True)
    Node.objects.create(name="gpu-search-01", address="10.9.0.1")
    context, page, problems = _context_page(browser, viewport={"width": 1280, "height": 800})
    try:
        login(page, live_server_url, "finder")
        box = page.get_by_role("searchbox", name="Search", exact=True)
        page.keyboard.press("/")
        expect(box).to_be_focused()
        page.keyboard.type("gpu-search")
        expect(box).to_have_value("gpu-search")  # inside the field "/" is an ordinary character
        page.keyboard.press("Enter")
        page.wait_for_url("**/search/?q=gpu-search")
        expect(page.get_by_role("link", name="gpu-search-01")).to_be_visible()
        assert not problems, problems
    finally:
        context.close()


def test_on_a_phone_slash_opens_the_menu_and_the_page_is_accessible(browser, live_server_url, make_user):
    make_user("pocket", superuser=True)
    Node.objects.create(name="gpu-search-with-a-rather-long-name-02", address="10.9.0.2")
    context, page, problems = _context_page(browser, viewport=PHONE, color_scheme="dark")
    try:
        login(page, live_server_url, "pocket")
        expect(page.locator("#main-nav")).to_be_hidden()
        page.keyboard.press("/")
        expect(page.locator("#nav-search")).to_be_focused()
        page.goto(live_server_url + "/search/?q=gpu-search")
        expect(page.get_by_role("link", name="gpu-search-with-a-rather-long-name-02")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.keyboard.press("/")  # on the search page the page's own box takes the focus
        expect(page.locator("#search-q")).to_be_focused()
        page.add_script_tag(path=str(AXE))
        assert page.evaluate(AXE_RUN) == [], "search page"
        assert not problems, problems
    finally:
        context.close()
