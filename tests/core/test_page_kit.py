"""The page kit: error pages in the layout, the favicon, the vendored assets as recorded, base.html
loading only local files, and every kit template rendering."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import django_tables2 as tables
import pytest
from django import forms
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.urls import include, path

from aimatrix.error_views import server_error
from aimatrix.urls import handler500  # noqa: F401 - this module's URL conf uses the project's own handler

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "static" / "vendor"


# A URL conf for the error tests: the portal's, plus views that fail, with the portal's handlers.
def _forbidden(request):
    raise PermissionDenied("not for you")


def _boom(request):
    raise RuntimeError("kaboom")


urlpatterns = [
    path("kit-test/forbidden/", _forbidden),
    path("kit-test/boom/", _boom),
    path("", include("aimatrix.urls")),
]


def _assert_in_layout(html: str) -> None:
    assert 'class="navbar' in html and 'id="main-nav"' in html, "error page lost the navigation"
    assert 'href="/nodes/"' in html and 'href="/jobs/"' in html
    assert "vendor/bootstrap/bootstrap.min.css" in html


@pytest.mark.django_db
def test_404_renders_in_the_layout_with_navigation(client, make_user):
    client.force_login(make_user("reader"))
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    _assert_in_layout(html)
    assert "Page not found" in html and "/no-such-page/" in html
    assert ">Log out</button>" in html  # the signed-in layout, not a bare page


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_403_renders_in_the_layout_with_navigation(client, make_user):
    client.force_login(make_user("reader"))
    response = client.get("/kit-test/forbidden/")
    assert response.status_code == 403
    html = response.content.decode()
    _assert_in_layout(html)
    assert "Not allowed" in html


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_500_renders_in_the_layout_with_debug_off(settings, make_user):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    client.force_login(make_user("reader"))
    response = client.get("/kit-test/boom/")
    assert response.status_code == 500
    html = response.content.decode()
    _assert_in_layout(html)
    assert "Something went wrong" in html
    assert "kaboom" not in html and "Traceback" not in html


def test_500_page_needs_no_database():
    """No django_db mark: pytest-django fails any query, so this proves the page renders without one."""
    request = RequestFactory().get("/anything/")
    response = server_error(request)
    assert response.status_code == 500
    _assert_in_layout(response.content.decode())


@pytest.mark.django_db
def test_favicon_ico_is_not_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.svg"
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content if icon.streaming else [icon.content])


def test_every_vendored_file_matches_versions_json():
    versions = json.loads((VENDOR / "VERSIONS.json").read_text())
    names = {entry["name"] for entry in versions}
    assert {"bootstrap", "htmx.org", "uplot", "axe-core"} <= names
    recorded = set()
    for entry in versions:
        assert re.fullmatch(r"\d+\.\d+\.\d+", entry["version"]), entry  # an exact pin, no range
        assert entry["integrity"].startswith("sha512-"), entry["name"]
        for relative, sha256 in entry["files"].items():
            content = (VENDOR / relative).read_bytes()
            assert hashlib.sha256(content).hexdigest() == sha256, f"{relative} differs from VERSIONS.json"
            recorded.add(relative)
    on_disk = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()} - {"VERSIONS.json"}
    assert on_disk == recorded, "static/vendor holds files VERSIONS.json does not record (or the reverse)"


def _rendered_base() -> str:
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    return render_to_string("base.html", request=request)


def test_base_references_only_local_static_files():
    source = (ROOT / "templates" / "base.html").read_text()
    assert "//" not in re.sub(r"<!--.*?-->|\{#.*?#\}", "", source).replace("<!doctype html>", ""), \
        "base.html names an absolute or protocol-relative URL"
    html = _rendered_base()
    urls = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"', html)
    assert urls, "no scripts or stylesheets found"
    for url in urls:
        assert url.startswith("/static/"), f"{url} is not a local static file"
        assert (ROOT / "static" / url.removeprefix("/static/")).is_file(), f"{url} does not exist"
    for needed in ("vendor/bootstrap/bootstrap.min.css", "vendor/bootstrap/bootstrap.bundle.min.js",
                   "vendor/htmx.org/htmx.min.js", "css/app.css", "js/theme.js", "favicon.svg"):
        assert f"/static/{needed}" in html


@pytest.mark.django_db
def test_htmx_requests_carry_the_csrf_token(client, make_user):
    client.force_login(make_user("reader"))
    html = client.get("/").content.decode()
    token = re.search(r"""<body hx-headers='\{"X-CSRFToken": "([^"]+)"\}'>""", html)
    assert token and len(token.group(1)) >= 32, "htmx POSTs would be refused by CSRF"
    assert "/static/vendor/htmx.org/htmx.min.js" in html


def test_base_follows_the_system_colour_scheme_before_first_paint():
    html = _rendered_base()
    assert html.index("js/theme.js") < html.index("bootstrap.min.css"), "theme must be set before CSS paints"
    theme = (ROOT / "static" / "js" / "theme.js").read_text()
    assert "prefers-color-scheme: dark" in theme and "data-bs-theme" in theme


# The kit templates, each rendered with a representative context.
def _request():
    request = RequestFactory().get("/things/", {"state": "ready"})
    request.user = AnonymousUser()
    return request


class ThingTable(tables.Table):
    name = tables.Column()
    state = tables.Column()


class ThingForm(forms.Form):
    name = forms.CharField(help_text="A short name.")
    address = forms.GenericIPAddressField()

    def clean(self):
        raise forms.ValidationError("Names and addresses must be unique together.")


def test_list_page_renders_filters_chips_and_table():
    request = _request()
    table = ThingTable([{"name": "gpu-01", "state": "ready"}, {"name": "gpu-02", "state": "ready"}])
    tables.RequestConfig(request).configure(table)
    html = render_to_string("kit/list_page.html", {
        "page_title": "Things", "table": table,
        "filter_form": forms.Form(), "active_filters": [{"label": "State", "value": "ready", "remove_url": "/things/"}],
    }, request=request)
    assert "<h1" in html and "Things" in html
    assert 'aria-label="Filters"' in html and ">Apply</button>" in html
    assert "State: ready" in html and 'aria-label="Remove filter State ready"' in html
    assert "gpu-01" in html and "gpu-02" in html and "table" in html


def test_list_page_shows_the_empty_state_with_the_lab_hint():
    html = render_to_string("kit/list_page.html", {
        "page_title": "Nodes", "is_empty": True, "empty_title": "No nodes yet",
        "empty_text": "Nodes are the servers the portal manages.", "empty_how": "Add one or import a list.",
        "empty_action_url": "/nodes/import/", "empty_action_label": "Import nodes", "empty_lab_hint": True,
    }, request=_request())
    assert "No nodes yet" in html and "Nodes are the servers" in html
    assert 'href="/nodes/import/"' in html and "<code>make lab</code>" in html


def test_empty_state_renders_on_its_own():
    html = render_to_string("kit/empty_state.html", {"empty_title": "No secrets", "empty_text": "Secrets hold keys."})
    assert "No secrets" in html and "Secrets hold keys." in html and "make lab" not in html


def test_detail_page_renders_four_tabs():
    html = render_to_string("kit/detail_page.html", {"object": "node gpu-01", "active_tab": "jobs"},
                            request=_request())
    for label in ("Overview", "Jobs", "Change log", "Related"):
        assert f">{label}</button>" in html
    assert 'class="tab-pane show active" id="pane-jobs"' in html
    assert "node gpu-01" in html


def test_form_page_shows_errors_next_to_fields_and_on_top():
    form = ThingForm({"name": "", "address": "not-an-ip"})
    assert not form.is_valid()
    html = render_to_string("kit/form_page.html", {"form": form, "page_title": "Add a thing",
                                                   "cancel_url": "/things/"}, request=_request())
    top = html.index("Names and addresses must be unique together.")
    name_field = html.index('name="name"')
    assert top < name_field, "non-field errors belong above the fields"
    assert "This field is required." in html and "Enter a valid IPv4 or IPv6 address." in html
    assert html.index("This field is required.") > name_field  # right under its field
    assert "{'" not in html, "errors printed as a dict"
    assert "csrfmiddlewaretoken" in html and 'href="/things/"' in html


def test_confirm_page_lists_objects_and_says_what_will_happen():
    html = render_to_string("kit/confirm_page.html", {
        "page_title": "Power off 2 nodes?", "consequence": "The nodes lose power immediately.",
        "objects": ["gpu-01", "gpu-02"], "confirm_label": "Power off", "danger": True,
        "cancel_url": "/nodes/", "hidden_fields": [("action", "power-off")],
    }, request=_request())
    assert "Power off 2 nodes?" in html and "The nodes lose power immediately." in html
    assert "2 objects" in html and "gpu-01" in html and "gpu-02" in html
    assert 'class="btn btn-danger">Power off</button>' in html
    assert 'href="/nodes/">Cancel</a>' in html and 'name="action" value="power-off"' in html
