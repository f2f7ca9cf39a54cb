"""Screenshots of the main pages at desktop and phone width: `make screenshots`.

    python -m devtools.screenshots --out var/screenshots --docs docs/img

Needs DATABASE_URL (migrated, empty) and REDIS_URL; scripts/screenshots.sh provides both (a
private PostgreSQL and Redis, as the tests use). Builds the demo fleet (devtools.demo_fleet),
starts daphne on it, keeps a power-cycle job running, and drives Debian's Chromium through
Playwright: logs in as the admin through the real form and saves a full-page PNG of every shot
in SHOTS at every width in VIEWPORTS, as <out>/<shot>-<width>.png. The shots named in DOCS are
copied to <docs> for the README.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from devtools.browser import login

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
DOCS = ["dashboard-desktop", "job-live-desktop"]
TIMEOUT_MS = 20_000

# Nodes an operator pastes into the import form: a rack of new GPU nodes, one with its BMC.
IMPORT_CSV = """name,address,ssh_user,labels,project,bmc_driver,bmc_address,bmc_credential
gpu-h100-06,10.40.1.16,deploy,"gpu,h100,infiniband",llm-platform,redfish,https://10.42.1.16,bmc-admin
gpu-h100-07,10.40.1.17,deploy,"gpu,h100,infiniband",llm-platform,,,
gpu-l40s-02,10.40.3.12,deploy,"gpu,l40s,inference",,,,
"""


@dataclass(frozen=True)
class Shot:
    name: str
    path: Callable  # fleet -> URL path
    prepare: Callable | None = None  # (page, base_url) -> what was captured, after the page loaded


def _wait_for_progress_to_move(page, base_url):
    """The live job: wait until the progress bar has moved since the page loaded (the events come
    over the websocket), so the shot shows a job in motion, not a stale render."""
    bar = page.locator("#job-progress")
    before = bar.get_attribute("aria-valuenow")
    page.wait_for_function("v => document.querySelector('#job-progress').getAttribute('aria-valuenow') !== v",
                           arg=before, timeout=TIMEOUT_MS)
    return f"progress moved from {before}% to {bar.get_attribute('aria-valuenow')}%"


def _fill_import(page):
    page.fill("textarea[name=content]", IMPORT_CSV)
    fmt = page.locator("select[name=format]")
    if fmt.count():
        fmt.select_option("csv")


def _import_preview(page, base_url):
    """Submit the pasted rows. Where the portal answers with a preview (still on the import page),
    that is the shot; where it starts the import straight away, the filled form is."""
    _fill_import(page)
    form = page.locator("form:has(textarea[name=content])")
    with page.expect_navigation():
        form.locator("button[type=submit]").first.click()
    if urlsplit(page.url).path == "/nodes/import/":
        return "the preview of the submitted rows"
    page.goto(f"{base_url}/nodes/import/")
    _fill_import(page)
    return "the filled import form (this portal has no preview step: submitting imports at once)"


SHOTS = [
    Shot("dashboard", lambda fleet: "/"),
    Shot("node-list", lambda fleet: "/nodes/"),
    Shot("node-detail", lambda fleet: f"/nodes/{fleet.nodes['gpu-h100-01'].pk}/"),
    Shot("job-live", lambda fleet: f"/jobs/{fleet.running.job.pk}/", _wait_for_progress_to_move),
    Shot("import-preview", lambda fleet: "/nodes/import/", _import_preview),
]


def _private_home() -> Path:
    """Chromium's profile and caches in a throw-away home, not the user's. Under the system's temp
    directory: Chromium refuses a profile socket path longer than ~100 characters."""
    home = Path(tempfile.mkdtemp(prefix="aimatrix-shots-"))
    for key, sub in (("HOME", ""), ("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache"), ("TMPDIR", "tmp")):
        (home / sub).mkdir(parents=True, exist_ok=True)
        os.environ[key] = str(home / sub)
    return home


def capture(browser, base_url: str, fleet, out: Path) -> list[Path]:
    written = []
    for width, viewport in VIEWPORTS.items():
        context = browser.new_context(viewport=viewport, color_scheme="light")
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            login(page, base_url, fleet.admin.username, fleet.password)
            for shot in SHOTS:
                response = page.goto(base_url + shot.path(fleet))
                if not response.ok:
                    raise RuntimeError(f"{shot.name}: {response.status} at {response.url}")
                note = shot.prepare(page, base_url) if shot.prepare else ""
                path = out / f"{shot.name}-{width}.png"
                page.screenshot(path=str(path), full_page=True, animations="disabled")
                written.append(path)
                print(f"screenshots: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
                      f"{f' ({note})' if note else ''}")
        finally:
            context.close()
        if errors:
            raise RuntimeError(f"script errors on the pages ({width}): {errors}")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "screenshots")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args(argv)
    if not os.access(CHROMIUM, os.X_OK):
        print(f"screenshots: {CHROMIUM} is missing (make install)", file=sys.stderr)
        return 1

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")
    import django

    django.setup()
    from django.conf import settings
    from playwright.sync_api import sync_playwright

    from devtools import demo_fleet
    from devtools.processes import child_env, start_daphne

    args.out.mkdir(parents=True, exist_ok=True)
    fleet = demo_fleet.build()
    fleet.running = demo_fleet.RunningJob(fleet.admin, fleet.nodes["gpu-h100-02"]).start()
    daphne, base_url = start_daphne("screenshots-daphne", child_env(), Path(settings.VAR_DIR) / "logs")
    home = _private_home()
    # Playwright's sync API marks an event loop as running in this thread: the ORM must not refuse.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                capture(browser, base_url, fleet, args.out)
            finally:
                browser.close()
    finally:
        fleet.running.stop()
        daphne.stop()
        shutil.rmtree(home, ignore_errors=True)
    args.docs.mkdir(parents=True, exist_ok=True)
    for name in DOCS:
        shutil.copyfile(args.out / f"{name}.png", args.docs / f"{name}.png")
        print(f"screenshots: copied {name}.png to {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
