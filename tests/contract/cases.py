"""Join what the portal answers (routes.py) with what the table declares (expectations.py).

Every discovered (route, method) becomes one case; so does every declared one. A case whose
route nobody declared, or whose declared route or method no longer exists, is still a case:
its test fails and says which. Nothing can be answered without being tested, and nothing can be
declared without being answered.
"""
from __future__ import annotations

from dataclasses import dataclass

from .routes import HTTP_METHODS
from .spec import ACTION, Case, case

FORMAT_SUFFIX = ".{format}"


@dataclass(frozen=True)
class ContractCase:
    template: str
    method: str
    case: Case | None
    problem: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.template}"


def format_base(template: str) -> str | None:
    """DRF's `.json` twin of a route answers as the route itself: `/api/v1/jobs.{format}` -> `/api/v1/jobs/`."""
    if FORMAT_SUFFIX not in template:
        return None
    return template.replace("/" + FORMAT_SUFFIX, "/").replace(FORMAT_SUFFIX, "/")


def join(routes: dict, actions: dict, table: dict) -> list[ContractCase]:
    cases: dict[tuple[str, str], ContractCase] = {}

    def add(template, method, declared, problem=""):
        cases[(template, method)] = ContractCase(template, method, case(declared) if declared else None, problem)

    for template, route in routes.items():
        declared = table.get(template, {})
        base = format_base(template)
        if base is not None and template not in table:
            declared = table.get(base, {})
        methods = set(route.methods) or {"GET"}
        if route.is_function_view:  # a function view takes any method: the table says which ones matter
            methods |= {m for m in declared if m in HTTP_METHODS}
        for method in sorted(methods):
            if method in declared:
                add(template, method, declared[method])
            else:
                add(template, method, None, f"no expectation declared for {method} {template}")
        for method in sorted(set(declared) - methods):
            if method.startswith(ACTION):
                continue
            add(template, method, None, f"{method} {template} is declared but the view does not implement it")
        for name in actions.get(template, []):
            key = ACTION + name
            if key in declared:
                add(template, key, declared[key])
            else:
                add(template, key, None, f"no expectation declared for admin action {name!r} on {template}")
        for key in declared:
            if key.startswith(ACTION) and key[len(ACTION):] not in actions.get(template, []):
                add(template, key, None, f"admin action {key[len(ACTION):]!r} on {template} is declared but gone")
    for template in set(table) - set(routes):
        for method in table[template]:
            add(template, method, None, f"{method} {template} is declared but the route no longer exists")
    return sorted(cases.values(), key=lambda c: (c.template, c.method))
