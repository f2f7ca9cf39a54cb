"""What the portal answers, discovered from the running configuration rather than written down:

- every HTTP route of the URL conf (`get_resolver()` walked), with the methods its view implements,
- every admin action of every registered ModelAdmin (`get_actions()` as a superuser sees them),
- every websocket route reachable through `aimatrix.asgi.application`.

Routes are named by a readable template: `/api/v1/jobs/{pk}/cancel/`, `/admin/{app_label}/`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Route:
    template: str  # "/api/v1/jobs/{pk}/"
    methods: frozenset  # what the view implements; empty for plain function views (any method)
    name: str = ""
    is_function_view: bool = False
    kwargs: tuple = field(default=())  # URL kwarg names, in order


def normalize(raw: str) -> str:
    """A resolver route string (path() and re_path() pieces joined) as a readable template."""
    out, i = [], 0
    while i < len(raw):
        if raw.startswith("(?P<", i):
            end = raw.index(">", i)
            name = raw[i + 4:end]
            depth, j = 1, end + 1
            while depth:
                if raw[j] == "\\":
                    j += 1
                else:
                    depth += {"(": 1, ")": -1}.get(raw[j], 0)
                j += 1
            out.append("{" + name + "}")
            i = j
        elif raw[i] == "<":
            end = raw.index(">", i)
            converter, _, name = raw[i + 1:end].rpartition(":")
            # DRF's suffix converter matches ".json" itself: show the dot in the template.
            out.append(("." if converter.startswith("drf_format_suffix") else "") + "{" + name + "}")
            i = end + 1
        elif raw.startswith("/?", i):
            i += 2
        elif raw[i] in "^$":
            i += 1
        elif raw[i] == "\\":
            out.append(raw[i + 1])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "/" + "".join(out)


def _methods(callback) -> tuple[frozenset, bool]:
    actions = getattr(callback, "actions", None)  # DRF viewset: the router's method -> action map
    if actions:
        return frozenset(m.upper() for m in actions), False
    cls = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if cls is None:
        return frozenset(), True
    allowed = {m.upper() for m in getattr(cls, "http_method_names", [])}
    return frozenset(m for m in HTTP_METHODS if m in allowed and hasattr(cls, m.lower())), False


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def http_routes() -> dict[str, Route]:
    """Template -> Route. A template listed twice (each DefaultRouter adds an API root) resolves
    to its first pattern only, as Django does."""
    routes: dict[str, Route] = {}
    for raw, pattern in _walk(get_resolver().url_patterns):
        template = normalize(raw)
        if template in routes:
            continue
        methods, is_function = _methods(pattern.callback)
        kwargs = tuple(re.findall(r"\{(\w+)\}", template))
        routes[template] = Route(template, methods, pattern.name or "", is_function, kwargs)
    return routes


def admin_actions(superuser) -> dict[str, list[str]]:
    """Changelist template -> the action names its ModelAdmin offers a superuser."""
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = superuser
    found = {}
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        found[f"/admin/{opts.app_label}/{opts.model_name}/"] = sorted(model_admin.get_actions(request))
    return found


def websocket_routes() -> dict[str, Route]:
    """Templates of the websocket URLRouter(s) inside the ASGI application's websocket branch."""
    from channels.routing import URLRouter

    from aimatrix.asgi import application

    routes: dict[str, Route] = {}

    def visit(app, prefix, seen):
        if id(app) in seen:
            return
        seen.add(id(app))
        if isinstance(app, URLRouter):
            for route in app.routes:
                inner = getattr(route.callback, "_router", None) or getattr(route.callback, "consumer_class", None)
                raw = prefix + str(route.pattern)
                if isinstance(inner, URLRouter):
                    visit(inner, raw, seen)
                else:
                    template = normalize(raw)
                    routes[template] = Route(template, frozenset({"CONNECT"}),
                                             kwargs=tuple(re.findall(r"\{(\w+)\}", template)))
            return
        for attr in ("application", "inner", "app"):
            child = getattr(app, attr, None)
            if child is not None:
                visit(child, prefix, seen)

    visit(application.application_mapping["websocket"], "", set())
    return routes


def fill(template: str, values: dict) -> str:
    """Put fixture values into a template; a kwarg without a value is an error naming it."""
    def value(match):
        name = match.group(1)
        if name not in values:
            raise KeyError(f"{template}: no fixture value for URL kwarg {name!r} (add it to tests/contract/world.py)")
        return str(values[name])
    return re.sub(r"\{(\w+)\}", value, template)
