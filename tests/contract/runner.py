"""One request of one role, inside a savepoint that is rolled back: each role meets the same world."""
from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode

from django.db import transaction
from django.test import Client

from apps.core.models import AuditEvent

from .routes import fill
from .spec import ACTION, Case
from .world import ANONYMOUS, World

SECRET_VALUE = b"matrix-value"
NOT_OFFERED = "not offered"  # an admin action the change list does not offer this role
LOGIN_PAGES = ("/accounts/login/", "/admin/login/")


@dataclass(frozen=True)
class Outcome:
    status: int | str  # "302 -> /elsewhere" when a login redirect goes somewhere else
    audit_entries: int
    leaked: bool
    detail: str = ""


def _format(value, ctx):
    if isinstance(value, str):
        whole = value[1:-1] if value.startswith("{") and value.endswith("}") else None
        return ctx[whole] if whole in ctx else value.format(**ctx)
    if isinstance(value, dict):
        return {k: _format(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_format(v, ctx) for v in value]
    return value


def _send(client: Client, method: str, url: str, body, as_json: bool):
    if method == "GET":
        return client.get(url, body or {})  # a GET body is its query string
    if as_json:
        data = json.dumps(body) if body is not None else ""
        return client.generic(method, url, data, content_type="application/json")
    if method == "DELETE" and not body:
        return client.generic(method, url)
    if method == "POST":
        return client.post(url, body or {})
    return client.generic(method, url, urlencode(body or {}, doseq=True),
                          content_type="application/x-www-form-urlencoded")


def perform(world: World, role: str, template: str, method: str, c: Case) -> Outcome:
    url = fill(template, world.values(template))
    body = _format(c.body, world.body_context(role))
    action = method[len(ACTION):] if method.startswith(ACTION) else None
    if action:
        # `post`: the confirmation of actions that ask for one (delete_selected).
        body = {"action": action, "_selected_action": world.action_targets(template), "index": "0",
                "post": "yes", **(body or {})}
        method = "POST"
    as_json = template.startswith("/api/") if c.json is None else c.json
    with transaction.atomic():
        if c.prefill:
            body = {**world.form_as_shown(url), **(body or {})}
        client = world.client(role)
        before = AuditEvent.objects.count()
        response = _send(client, method, url, body, as_json)
        entries = AuditEvent.objects.count() - before
        transaction.set_rollback(True)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    status = response.status_code
    if role == ANONYMOUS and status == 302 and not response["Location"].startswith(LOGIN_PAGES):
        status = f"302 -> {response['Location']}"
    elif action and status != 403 and role != ANONYMOUS and not _offered(world, role, template, action):
        status = NOT_OFFERED  # the POST still ran: a refused action must leave no audit entry either
    detail = content[:300].decode(errors="replace") if status in (400, 500) else ""
    return Outcome(status, entries, SECRET_VALUE in content, detail)


def _offered(world: World, role: str, changelist: str, action: str) -> bool:
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    app_label, model_name = changelist.strip("/").split("/")[1:3]
    model_admin = next(a for m, a in admin.site._registry.items()
                       if (m._meta.app_label, m._meta.model_name) == (app_label, model_name))
    request = RequestFactory().get(changelist)
    request.user = get_user_model().objects.get(pk=world.users[role].pk)
    return action in model_admin.get_actions(request)


_OUTCOMES: dict[tuple[str, str], dict[str, Outcome]] = {}


def run_case(world: World, template: str, method: str, c: Case) -> dict[str, Outcome]:
    """Every role's outcome for one case. Both contract tests read the same requests: the
    outcomes depend on the world's shape, not on its primary keys, so they are kept per case."""
    from .world import ALL

    key = (template, method)
    if key not in _OUTCOMES:
        _OUTCOMES[key] = {role: perform(world, role, template, method, c) for role in ALL}
    return _OUTCOMES[key]
