"""Who gets what, for every route and method the portal answers: THE declarative table, declared
per surface in expectations_pages.py, expectations_api.py and expectations_admin.py (role groups in
expectations_roles.py) and merged here.

Keys are route templates as tests/contract/routes.py names them (`/api/v1/jobs/{pk}/`); values
map a method (or `ACTION <name>` for an admin action) to a role spec or a Case. A route the URL
conf gains without an entry here fails the contract; so does an entry whose route is gone.

The world (tests/contract/world.py): every object belongs to a project none of the matrix users
is in. So the intended answers are: operators (admin, sre) reach everything their model
permissions allow; everyone else gets 404 for objects (existence not revealed), 403 for what
they may see but not do, or for models they have no permission on at all; anonymous gets 401 on
the API and the login redirect on pages and the admin. `other-project` holds every node and
secret permission, and owns another project: only project scoping stands in its way.
`project-member` (an engineer, member of the objects' projects) sees the node and the projects
and is refused (403) every change to them.

A Case adds what a bare spec cannot say: `body` (formatted with the world's names: {role},
{node}, {secret_id}...), `writes=` (roles that must leave exactly one audit entry; by default the
roles answered 2xx on the API; pages and admin must say), `reveals=` (who may receive the secret
value), and known bugs: `bugs={role: reason}` keeps the correct expectation and xfails while the
answer differs; `audit_bugs` the same for the audit count. "not offered": an admin action the
change list does not offer that role. Format-suffix twins (`/x.{format}`) follow their route.
"""
from .expectations_admin import ADMIN_MODELS, ADMIN_SITE
from .expectations_api import API
from .expectations_pages import PAGES


def _merge(*tables: dict) -> dict:
    merged: dict = {}
    for table in tables:
        for template, methods in table.items():
            clash = set(merged.get(template, {})) & set(methods)
            assert not clash, f"{template} {clash} declared twice"
            merged.setdefault(template, {}).update(methods)
    return merged


TABLE = _merge(PAGES, API, ADMIN_SITE, ADMIN_MODELS)
