"""The vocabulary of the expectation table and the join of table and discovered routes.

A role spec is `{"admin,sre": 200, "*": 404}`: comma-separated roles, `*` for every matrix user
not named (the five role templates and `other-project`). Anonymous is never covered by `*`: it
gets the route family's default (401 for the API, the login redirect for pages and the admin)
unless the spec names `anonymous` itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .world import ALL, ANONYMOUS, MATRIX_USERS

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
ACTION = "ACTION "  # "ACTION cancel_jobs": an admin action, POSTed to the change list
LOGIN_REDIRECT = 302


@dataclass(frozen=True)
class Case:
    expect: dict
    body: Any = None
    # Roles whose request must write exactly one audit entry. None: the roles answered 2xx on the
    # API; page and admin writes (3xx on success and on refusal) must say it.
    writes: str | None = None
    reveals: str = ""  # roles that may receive the secret value in the response
    json: bool | None = None  # None: JSON for /api/, form data elsewhere
    prefill: bool = False  # start from the form as the page shows it to a superuser (admin forms)
    bugs: dict = field(default_factory=dict)  # role -> reason: the answer differs from `expect` (xfail)
    audit_bugs: dict = field(default_factory=dict)  # role -> reason: the audit count is wrong (xfail)


def case(value) -> Case:
    return value if isinstance(value, Case) else Case(value)


def roles_of(names: str) -> list[str]:
    out = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        if name not in ALL:
            raise ValueError(f"unknown role {name!r}; roles are {', '.join(ALL)}")
        out.append(name)
    return out


def anonymous_default(template: str):
    return 401 if template.startswith("/api/") else LOGIN_REDIRECT


def expand(spec: dict, template: str) -> dict:
    """{"admin,sre": 200, "*": 404} -> {role: code} for every matrix user and anonymous."""
    out = {}
    for key, code in spec.items():
        if key != "*":
            for role in roles_of(key):
                out[role] = code
    for role in MATRIX_USERS:
        if role not in out:
            if "*" not in spec:
                raise ValueError(f"{template}: no answer for {role} and no '*' default")
            out[role] = spec["*"]
    out.setdefault(ANONYMOUS, anonymous_default(template))
    return out


def writers(c: Case, template: str, method: str) -> set[str]:
    if method not in WRITE_METHODS and not method.startswith(ACTION):
        return set()
    if c.writes is not None:
        return set(roles_of(c.writes))
    if not template.startswith("/api/"):
        raise ValueError(f"{method} {template}: page and admin writes must declare writes=")
    return {role for role, code in expand(c.expect, template).items() if 200 <= code < 300}


def admin_model(label: str, *, view, add, delete, add_post, change_post, delete_post, change=None, history=None,
                actions=None) -> dict:
    """The routes Django's admin gives one registered model, as table entries.

    view: the change list; also the change page and history unless `change`/`history` say otherwise.
    add/delete: GET of the add page and of the delete confirmation; *_post: the form submissions.
    actions: {name: Case} for each action in get_actions(), POSTed to the change list.
    """
    base = "/admin/" + label.replace(".", "/") + "/"
    obj = base + "{object_id}/"
    entries = {
        base: {"GET": view, **{ACTION + name: spec for name, spec in (actions or {}).items()}},
        base + "add/": {"GET": add, "POST": _prefilled(add_post)},
        obj + "change/": {"GET": change or view, "POST": _prefilled(change_post)},
        obj + "history/": {"GET": history or view},
        obj + "delete/": {"GET": delete, "POST": replace(case(delete_post), body={"post": "yes"})},
        # The pre-1.9 change URL: a redirect to the change page, behind the admin login.
        obj: {method: Case({"*": 302}, writes="") for method in ("GET", "POST", "PUT", "PATCH", "DELETE")},
    }
    return entries


def _prefilled(value) -> Case:
    return replace(case(value), prefill=True)
