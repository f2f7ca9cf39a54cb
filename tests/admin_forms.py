"""Read an admin form page as a browser would submit it, so tests POST complete forms
(management forms of every inline included) and change only what they mean to."""
from __future__ import annotations

from html.parser import HTMLParser


class _FormParser(HTMLParser):
    def __init__(self, form_id: str | None):
        super().__init__()
        self.form_id, self.inside, self.depth = form_id, False, 0
        self.data: dict[str, list[str]] = {}
        self.choices: dict[str, list[str]] = {}
        self._select = None
        self._select_multiple = False
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            if not self.inside and (self.form_id is None or a.get("id") == self.form_id):
                self.inside = True
            return
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("submit", "button", "file") or (kind in ("checkbox", "radio") and "checked" not in a):
                return
            self.data.setdefault(name, []).append(a.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "select" and name:
            self._select, self._select_multiple = name, "multiple" in a
            self.choices[name] = []
            self.data.setdefault(name, [])
        elif tag == "option" and self._select:
            value = a.get("value", "")
            self.choices[self._select].append(value)
            if "selected" in a:
                self.data[self._select].append(value)
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_endtag(self, tag):
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "select":
            if self._select and not self._select_multiple and not self.data[self._select] \
                    and self.choices[self._select]:
                self.data[self._select] = [self.choices[self._select][0]]
            self._select = None
        elif tag == "textarea" and self._textarea:
            value = self.data[self._textarea][0]
            self.data[self._textarea][0] = value[1:] if value.startswith("\n") else value  # as browsers do
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][0] += data


def parse_form(html: str, form_id: str | None = None) -> tuple[dict, dict]:
    """(data, choices): data maps each field to the value (a list for several) the page would post;
    choices maps each select to the values it offers."""
    parser = _FormParser(form_id)
    parser.feed(html)
    data = {k: (v[0] if len(v) == 1 else v) for k, v in parser.data.items() if v}
    return data, parser.choices


def admin_form(client, url: str, **changes) -> tuple[dict, dict]:
    """GET an admin add/change page (/admin/<app>/<model>/...) and return (its form's data with
    `changes` applied, choices)."""
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    model = url.strip("/").split("/")[2]
    data, choices = parse_form(resp.content.decode(), f"{model}_form")
    data.update(changes)
    return data, choices
