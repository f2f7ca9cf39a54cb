"""The contract's case list, shared by both tests and the coverage count."""
from __future__ import annotations

from django.contrib.auth import get_user_model

from .cases import join
from .expectations import TABLE
from .routes import admin_actions, http_routes, websocket_routes
from .world import ALL


def _superuser():
    return get_user_model()(username="contract-discovery", is_superuser=True, is_staff=True, is_active=True)


CASES = join(http_routes(), admin_actions(_superuser()), TABLE)


def coverage() -> dict:
    ok = [c for c in CASES if not c.problem]
    routes = {c.template for c in ok}
    ws = websocket_routes()
    return {"routes": len(routes) + len(ws), "route_methods": len(ok) + len(ws), "roles": len(ALL),
            "checks": (len(ok) + len(ws)) * len(ALL), "undeclared_or_stale": len(CASES) - len(ok)}
