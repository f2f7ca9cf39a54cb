"""The contract's case list, shared by both tests and the coverage count."""
from __future__ import annotations

from django.contrib.auth import get_user_model

from .cases import join
from .expectations import TABLE
from .routes import admin_actions, http_routes, websocket_routes
from .spec import ACTION
from .world import ALL


def _superuser():
    return get_user_model()(username="contract-discovery", is_superuser=True, is_staff=True, is_active=True)


CASES = join(http_routes(), admin_actions(_superuser()), TABLE)


def _family(template: str, method: str) -> str:
    if method.startswith(ACTION):
        return "admin actions"
    if template.startswith("/api/"):
        return "API"
    return "admin pages" if template.startswith("/admin/") else "pages"


def coverage() -> dict:
    """Routes and (route, method) cases per family; every case is checked for every role."""
    ok = [c for c in CASES if not c.problem]
    families: dict[str, int] = {}
    for c in ok:
        families[_family(c.template, c.method)] = families.get(_family(c.template, c.method), 0) + 1
    families["websocket"] = len(websocket_routes())
    cases = sum(families.values())
    return {"routes": len({c.template for c in ok}) + families["websocket"], "cases": cases,
            "families": families, "roles": len(ALL), "checks": cases * len(ALL),
            "undeclared_or_stale": len(CASES) - len(ok)}
