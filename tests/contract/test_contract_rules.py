"""The contract's own rules, on made-up routes: what nobody declared fails, what vanished fails,
format twins follow their route, and route strings read as templates."""
from .cases import join
from .routes import Route, normalize
from .spec import ACTION, Case, expand

OPEN = {"*": 200}


def _route(template, *methods, function=False):
    return Route(template, frozenset(methods), is_function_view=function)


def _problems(routes, table, actions=None):
    return {c.id: c.problem for c in join(routes, actions or {}, table) if c.problem}


def test_an_undeclared_route_or_method_is_a_failing_case():
    routes = {"/new/": _route("/new/", "GET"), "/old/": _route("/old/", "GET", "POST")}
    problems = _problems(routes, {"/old/": {"GET": OPEN}})
    assert set(problems) == {"GET /new/", "POST /old/"}
    assert "no expectation declared" in problems["GET /new/"]


def test_a_declaration_without_its_route_or_method_is_a_failing_case():
    routes = {"/kept/": _route("/kept/", "GET")}
    problems = _problems(routes, {"/kept/": {"GET": OPEN, "DELETE": OPEN}, "/gone/": {"GET": OPEN}})
    assert set(problems) == {"DELETE /kept/", "GET /gone/"}


def test_admin_actions_must_be_declared_and_must_exist():
    routes = {"/admin/a/b/": _route("/admin/a/b/", function=True)}
    table = {"/admin/a/b/": {"GET": OPEN, ACTION + "old": Case(OPEN, writes="")}}
    problems = _problems(routes, table, {"/admin/a/b/": ["new"]})
    assert set(problems) == {"ACTION new /admin/a/b/", "ACTION old /admin/a/b/"}


def test_function_views_are_tested_for_get_and_every_declared_method():
    routes = {"/f/": _route("/f/", function=True)}
    cases = join(routes, {}, {"/f/": {"GET": OPEN, "POST": Case(OPEN, writes="")}})
    assert [(c.method, c.problem) for c in cases] == [("GET", ""), ("POST", "")]


def test_a_format_twin_follows_its_route():
    routes = {"/api/x/": _route("/api/x/", "GET"), "/api/x.{format}": _route("/api/x.{format}", "GET")}
    cases = join(routes, {}, {"/api/x/": {"GET": OPEN}})
    assert [c.id for c in cases if not c.problem] == ["GET /api/x.{format}", "GET /api/x/"]


def test_route_strings_read_as_templates():
    assert normalize("api/v1/^jobs/(?P<pk>[^/.]+)/cancel/$") == "/api/v1/jobs/{pk}/cancel/"
    assert normalize("api/v1/^nodes/(?P<pk>[^/.]+)/host-keys/(?P<key_id>\\d+)/approve/$") == \
        "/api/v1/nodes/{pk}/host-keys/{key_id}/approve/"
    assert normalize("jobs/<int:pk>/") == "/jobs/{pk}/"
    assert normalize("admin/^(?P<app_label>auth|jobs)/$") == "/admin/{app_label}/"


def test_star_covers_signed_in_roles_and_anonymous_gets_its_family_default():
    api, page = expand({"admin": 200, "*": 403}, "/api/v1/x/"), expand(OPEN, "/x/")
    assert api["admin"] == 200 and api["engineer"] == 403 and api["anonymous"] == 401
    assert page["other-project"] == 200 and page["anonymous"] == 302
