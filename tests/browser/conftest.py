"""Browser fixtures: Debian's Chromium driven by Playwright's sync API, against the live daphne.

`browser` (session): one headless Chromium; `page` (function): a fresh context and page per test
(no shared cookies), default timeout 15 s; `login()`: logs in through the real form.

Playwright's sync API keeps its event loop marked as running in the test thread from start to
stop, so Django's ORM would raise SynchronousOnlyOperation for the rest of the session (in the
tests, in pytest-django's flush after each transactional test, and in any test module that runs
after this one). The `browser` fixture therefore sets DJANGO_ALLOW_ASYNC_UNSAFE for exactly as
long as Playwright runs and restores it afterwards; tests run before the first browser test keep
Django's check.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from devtools.browser import login as browser_login

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
]
DEFAULT_TIMEOUT_MS = 15_000
PASSWORD = "pw-Correct-Horse-1"  # make_user's default
ARTIFACTS = Path(os.environ.get("AIMATRIX_VAR_DIR", ROOT / "var" / "test" / "app")) / "browser"


def _browser_home() -> Path:
    """A private HOME for this session: inside TEST_HOME (scripts/test.sh) or a temp dir."""
    base = os.environ.get("TEST_HOME")
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="browser-", dir=base))
    return Path(tempfile.mkdtemp(prefix="aimatrix-browser-"))


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not installed (scripts/install.sh test installs it)")
    from playwright.sync_api import sync_playwright

    home = _browser_home()
    private = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "TMPDIR": str(home / "tmp"),
    }
    for key in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "TMPDIR"):
        Path(private[key]).mkdir(parents=True, exist_ok=True)

    saved = {key: os.environ.get(key) for key in [*private, "DJANGO_ALLOW_ASYNC_UNSAFE"]}

    def restore(keys):
        for key in keys:
            if saved[key] is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = saved[key]

    # The Playwright driver copies os.environ when it starts and puts the browser's temporary
    # profile under its TMPDIR: point it at the private home only while it starts.
    os.environ.update(private)
    try:
        pw = sync_playwright().start()
    finally:
        restore(private)
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                      env={**os.environ, **private})
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        pw.stop()
        restore(["DJANGO_ALLOW_ASYNC_UNSAFE"])
        shutil.rmtree(home, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def page(browser, request):
    """A fresh context (own cookies) and page; a screenshot under var/ when the test fails; and
    a failure when the page raised an uncaught JavaScript error."""
    context = browser.new_context()
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    pg = context.new_page()
    js_errors: list[str] = []
    pg.on("pageerror", lambda exc: js_errors.append(str(exc)))
    try:
        yield pg
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed and not pg.is_closed():
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
            pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            (ARTIFACTS / f"{name}.html").write_text(pg.content())
    finally:
        context.close()
    assert not js_errors, f"uncaught JavaScript errors on the page: {js_errors}"


def login(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Log in through the real form at /accounts/login/; fails with the page's message if refused."""
    browser_login(page, base_url, username, password)
