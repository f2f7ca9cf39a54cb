"""The permission contract: every route and method of the URL conf (API, pages, admin, their
format twins) and every admin action, for every role template, anonymous and a member of another
project, answers exactly what tests/contract/expectations.py declares. A route nobody declared,
and a declaration whose route is gone, fail here."""
import pytest

from .contract import CASES
from .expectations import TABLE
from .runner import run_case
from .spec import expand, roles_of
from .verdict import judge
from .world import ALL

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_permission_matrix(world, c):
    assert not c.problem, c.problem + " (tests/contract/expectations.py)"
    outcomes = run_case(world, c.template, c.method, c.case)
    leaked = [role for role, o in outcomes.items() if o.leaked and role not in roles_of(c.case.reveals)]
    assert not leaked, f"{c.id}: the secret value reached {', '.join(leaked)}"
    judge(c.id, expand(c.case.expect, c.template), {role: outcomes[role].status for role in ALL}, c.case.bugs,
          {role: o.detail for role, o in outcomes.items()})


def test_the_table_names_only_known_roles():
    for template, methods in TABLE.items():
        for method, declared in methods.items():
            spec = getattr(declared, "expect", declared)
            expand(spec, template)  # raises on an unknown role or a missing default


def test_every_openapi_operation_is_in_the_matrix():
    """The schema is a second inventory of the API: each of its operations must be a case too."""
    import re

    from drf_spectacular.generators import SchemaGenerator

    from .routes import HTTP_METHODS

    def shape(path):
        return re.sub(r"\{\w+\}", "{}", path)

    covered = {(shape(c.template), c.method) for c in CASES if not c.problem}
    schema = SchemaGenerator().get_schema(request=None, public=True)
    missing = sorted(f"{method.upper()} {path}" for path, operations in schema["paths"].items()
                     for method in operations
                     if method.upper() in HTTP_METHODS and (shape(path), method.upper()) not in covered)
    assert not missing, f"OpenAPI operations the matrix does not test: {missing}"
