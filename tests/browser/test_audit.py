"""The crawl's own checks find what they look for: a probe rendered as markup, and an axe-core
violation in <main> as well as in the header (each structure audited once, reported on every
page that has it). Static documents, no server."""
from __future__ import annotations

import html

import pytest

from .audit import Auditor
from .crawl import MARKUP_CHECK, PROBE, PROBE_SHOWN

pytestmark = [pytest.mark.browser]

GOOD_HEADER = '<header><a href="/">Home</a></header>'
LOW_CONTRAST = '<p style="color:#bbb;background:#fff">hard to read</p>'


def _doc(header: str, main: str) -> str:
    return (f'<!doctype html><html lang="en"><head><title>t</title></head><body>{header}'
            f'<main><h1>Page</h1>{main}</main></body></html>')


def test_markup_check_tells_escaped_text_from_markup(page):
    page.set_content(_doc(GOOD_HEADER, f"<p>{html.escape(PROBE)}</p>"))
    assert page.evaluate(MARKUP_CHECK) == []
    assert page.evaluate(PROBE_SHOWN)
    page.set_content(_doc(GOOD_HEADER, f"<p>{PROBE}</p>"))
    assert page.evaluate(MARKUP_CHECK) == ["an element with class xss-probe", "the probe's <script> ran"]
    assert not page.evaluate(PROBE_SHOWN)


def test_auditor_reports_each_violation_on_every_page_that_has_it(page):
    auditor = Auditor()
    page.set_content(_doc(GOOD_HEADER, "<p>fine</p>"))
    assert auditor.audit(page, "light") == []
    page.set_content(_doc(GOOD_HEADER, LOW_CONTRAST))  # same header: only <main> is audited
    first = auditor.audit(page, "light")
    assert [p.split(" ")[1] for p in first] == ["color-contrast"]
    page.set_content(_doc(GOOD_HEADER, LOW_CONTRAST.replace("hard to read", "other words")))
    assert auditor.audit(page, "light") == first  # the same structure: the same finding, from the cache
    page.set_content(_doc(f"<header>{LOW_CONTRAST}</header>", "<p>fine</p>"))  # a new header: whole page
    assert [p.split(" ")[1] for p in auditor.audit(page, "light")] == ["color-contrast"]
    page.set_content('<!doctype html><html lang="en"><head><title> </title></head><body><main>x</main></body></html>')
    assert "the page has no <title> text" in auditor.audit(page, "dark")
