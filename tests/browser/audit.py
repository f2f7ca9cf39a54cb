"""axe-core (vendored) over many pages, each distinct structure audited once.

axe judges elements, their classes, attributes and colours, not the words in them. A crawl sees
the same header on every page of a role and the same 404 body for several roles, so the auditor
keys its findings by the structure (text removed, per-session and per-moment values blanked):

- the first page of each header (role and colour scheme): the whole document, so the header and
  the document-level rules (language, landmarks, skip link) are audited;
- every other page: only its <main>, unless a page with the same <main> was audited already.

Findings are reported on every page they apply to, so a failure names each page.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

AXE = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")

AXE_RUN = """async (selector) => {
  const context = selector ? {include: [[selector]]} : document;
  const result = await axe.run(context, {resultTypes: ["violations"]});
  return result.violations.filter(v => %s.includes(v.impact))
    .map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(" ") + " " + n.failureSummary).join(", ")}`);
}""" % list(SERIOUS)

# [header, main] as structure strings ("" where the page has none).
STRUCTURE = """() => {
  const shape = (el) => {
    if (!el) return "";
    const copy = el.cloneNode(true);
    const walker = document.createTreeWalker(copy, NodeFilter.SHOW_TEXT);
    const texts = [];
    while (walker.nextNode()) texts.push(walker.currentNode);
    texts.forEach(t => t.remove());
    copy.querySelectorAll("[value]").forEach(e => e.setAttribute("value", ""));
    for (const name of ["datetime", "data-ts", "title", "aria-current"]) {
      copy.querySelectorAll(`[${name}]`).forEach(e => e.removeAttribute(name));
    }
    copy.querySelectorAll(".active").forEach(e => e.classList.remove("active"));
    return copy.outerHTML;
  };
  return [shape(document.querySelector("header")), shape(document.querySelector("main"))];
}"""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Auditor:
    def __init__(self):
        self._headers: set[tuple] = set()
        self._found: dict[tuple, list[str]] = {}

    def _run(self, page, selector: str | None) -> list[str]:
        if not page.evaluate("() => typeof axe !== 'undefined'"):
            page.add_script_tag(path=str(AXE))
        return [f"axe: {violation}" for violation in page.evaluate(AXE_RUN, selector)]

    def audit(self, page, scheme: str) -> list[str]:
        """axe's serious and critical findings on the page now shown."""
        header, main = page.evaluate(STRUCTURE)
        problems = [] if page.title().strip() else ["the page has no <title> text"]
        header_key = (scheme, "header", _digest(header))
        if header_key not in self._headers or not main:
            self._headers.add(header_key)
            return problems + self._run(page, None)
        main_key = (scheme, "main", _digest(main))
        if main_key not in self._found:
            self._found[main_key] = self._run(page, "main")
        return problems + self._found[main_key]
