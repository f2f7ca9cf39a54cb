"""Every page as every role, in Chromium against the live daphne: the status the contract declares,
no console or script error, no markup made from stored text, and no serious or critical axe-core
violation.

The world is the contract's (tests/contract/world.py) plus markup probes in its text fields
(crawl.add_probes). It is built once for the module and committed, since daphne is another
process; the tests here do not use pytest-django's per-test flush (it would wipe the world after
the first role), so the module flushes the database itself when it is done, as a transactional
test would. One browser context per role, logged in once through the real form; axe-core runs
once per distinct page structure (tests/browser/audit.py).
"""
from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.core.management import call_command

from apps.jobs import services as job_services

from ..contract.routes import fill
from ..contract.world import MATRIX_USERS, build_world
from .audit import Auditor
from .conftest import DEFAULT_TIMEOUT_MS, PASSWORD, login
from .crawl import MARKUP_CHECK, PROBE, PROBE_SHOWN, expected_status, page_templates

# django_db: so the test database is set up; each test only reads through the browser, and its
# rolled-back transaction leaves the module's committed world alone.
pytestmark = [pytest.mark.django_db, pytest.mark.live, pytest.mark.browser]

PAGES = page_templates()


@pytest.fixture(scope="module")
def crawl_world(browser, live_server_url, django_db_blocker):
    from .crawl import add_probes

    with django_db_blocker.unblock(), pytest.MonkeyPatch.context() as patch:
        # Jobs of the world stay queued: no Celery work is sent anywhere.
        patch.setattr(job_services, "enqueue", lambda job: None)
        try:
            world = build_world()
            add_probes(world)
            for user in world.users.values():
                user.set_password(PASSWORD)
                user.save(update_fields=["password"])
            yield world
        finally:
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def auditor():
    return Auditor()


def _first_response(response):
    """The response to the URL asked for, before any redirect was followed."""
    request = response.request
    while request.redirected_from is not None:
        request = request.redirected_from
    return request.response()


def _crawl_one(page, url: str, template: str, role: str, messages: list[str],
               auditor: Auditor | None = None, scheme: str = "light") -> tuple[list[str], bool]:
    """Visit one page; return its problems and whether the probe was shown as text."""
    problems = []
    expected, bug = expected_status(template, role)
    messages.clear()
    response = page.goto(url, wait_until="load")
    first = _first_response(response)
    if first.status != expected and not bug:
        problems.append(f"status {first.status}, the contract declares {expected}")
    if response.ok and "text/html" not in (response.headers.get("content-type") or ""):
        problems.append(f"answers {response.headers.get('content-type')!r}, not a page "
                        f"(add it to crawl.NOT_PAGES with the reason)")
        return problems, False
    # The document's own intended error status is not a console error of the page.
    own = f"status of {response.status}"
    problems += [m for m in messages if not (response.status >= 400 and own in m and "Failed to load" in m)]
    problems += [f"markup from stored text: {found}" for found in page.evaluate(MARKUP_CHECK)]
    if auditor is not None:
        problems += auditor.audit(page, scheme)
    return problems, page.evaluate(PROBE_SHOWN)


def _role_page(browser, scheme: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    messages: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and messages.append(f"console: {msg.text}"))
    page.on("pageerror", lambda exc: messages.append(f"script error: {exc}"))
    return context, page, messages


def _report(role: str, found: dict) -> str:
    return f"{role}: " + "\n".join(f"{t}: {'; '.join(p)}" for t, p in found.items())


# Every role in the light theme; the dark theme's colours once, as the role that sees the most.
RUNS = [(role, "light") for role in MATRIX_USERS] + [("admin", "dark")]


@pytest.mark.parametrize(("role", "scheme"), RUNS, ids=[f"{r}-{s}" for r, s in RUNS])
def test_every_page_as_role(browser, live_server_url, crawl_world, auditor, role, scheme):
    context, page, messages = _role_page(browser, scheme)
    found: dict[str, list[str]] = {}
    shown_on = []
    try:
        login(page, live_server_url, crawl_world.users[role].username)
        for template in PAGES:
            try:
                url = live_server_url + fill(template, crawl_world.values(template))
                problems, shown = _crawl_one(page, url, template, role, messages, auditor, scheme)
            except (KeyError, AssertionError) as exc:  # no world object for a parameter, no contract entry
                problems, shown = [str(exc).strip('"')], False
            if problems:
                found[template] = problems
            if shown:
                shown_on.append(template)
    finally:
        context.close()
    assert not found, _report(role, found)
    # Operators see every object, so the probes were on their pages and the markup check above
    # had something to find.
    if role in ("admin", "sre"):
        assert shown_on, f"{role}: the probe text was shown on no page; the markup check tested nothing"


def test_query_text_is_shown_as_text(browser, live_server_url, crawl_world):
    """What a user types into a filter or the search box comes back in the page (inputs, chips,
    "no results for ..."): as text. Every page without URL parameters, with the probe as `q`."""
    context, page, messages = _role_page(browser, "light")
    found: dict[str, list[str]] = {}
    try:
        login(page, live_server_url, crawl_world.users["admin"].username)
        for template in [t for t in PAGES if "{" not in t]:
            url = f"{live_server_url}{template}?{urlencode({'q': PROBE})}"
            try:
                problems, _ = _crawl_one(page, url, template, "admin", messages)
            except AssertionError as exc:  # no contract entry: the crawl says which page
                problems = [str(exc)]
            if problems:
                found[template] = problems
        page.goto(f"{live_server_url}/search/?{urlencode({'q': PROBE})}")
        echoed = page.evaluate(PROBE_SHOWN) or page.evaluate(
            "p => [...document.querySelectorAll('input')].some(i => i.value === p)", PROBE)
    finally:
        context.close()
    assert not found, _report("admin", found)
    assert echoed, "the search page shows the query nowhere: the check above tested nothing there"


def test_page_list_covers_the_portal():
    """The crawl's list is the URL conf's: the pages the portal is known to have are in it, the
    API, admin internals and non-HTML answers are not."""
    assert {"/", "/nodes/", "/nodes/{pk}/", "/jobs/{pk}/", "/projects/{pk}/", "/keyvault/", "/admin/"} <= set(PAGES)
    assert not [p for p in PAGES if p.startswith("/api/") or (p.startswith("/admin/") and p != "/admin/")]
    assert "/jobs/{pk}/log.txt" not in PAGES and "/metrics" not in PAGES
