"""schemathesis over the whole OpenAPI schema: every operation gets valid and invalid requests
(through Django's WSGI handler, as a superuser with a token); no answer may be a 500.

The schema is the one /api/schema/ serves (the same drf-spectacular generator; the last test
checks that both list the same operations). It is built at collection, one test per operation,
because schemathesis' fixture-loaded schemas do not run under pytest 9.

Bounded so the suite stays fast: FUZZ_EXAMPLES examples per operation and mode (default 5),
generated deterministically, with no example database and no shrinking. Jobs that requests
start are recorded but never queued to Celery.
"""
import json
import os

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.config import HealthCheck

from apps.jobs import services as job_services

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIHfHn2lVqXUeyTZ0mQ2fYx8m9yMDQ3UeOQ5UjOWeF6k1"


def served_schema() -> dict:
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


def operations(raw: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in raw["paths"].items() for method in item
            if method in ("get", "put", "post", "patch", "delete")}


schema = schemathesis.openapi.from_dict(served_schema())
schema.config.update(suppress_health_check=list(HealthCheck))
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])
schema.config.generation.update(modes=["positive", "negative"], max_examples=EXAMPLES, deterministic=True,
                                database="none", no_shrink=True)


@pytest.fixture
def fuzz_headers(make_user, monkeypatch, settings):
    monkeypatch.setattr(job_services, "enqueue", lambda job: None)
    settings.HEALTH_WORKER_TIMEOUT = 0.05  # no Celery worker here: /api/health answers 503 at once
    admin = make_user("fuzz-root", superuser=True)
    return {"Authorization": f"Token {Token.objects.create(user=admin).key}"}


@pytest.fixture
def wsgi_app():
    """Django's WSGI handler inside the test's transaction: like Django's test client, keep the
    request signals from closing the test's database connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(fuzz_headers, django_user_model):
    """One object of each kind, so generated ids reach the views' code instead of a 404."""
    from apps.core.models import AuditEvent
    from apps.keyvault import onetime
    from apps.keyvault import services as keyvault
    from apps.keyvault.models import SecretAccess
    from apps.nodes import services as nodes
    from apps.rbac import services as rbac

    admin = django_user_model.objects.get(username="fuzz-root")
    secret = keyvault.create_secret(admin, name="fuzz-bmc", kind="bmc_credentials", value="ops:pw")
    keyvault.reveal_secret(admin, secret, "fuzz")
    node = nodes.create_node(admin, name="fuzz-n1", address="10.0.0.5", host_keys=[("ssh-ed25519", ED25519)])
    nodes.set_bmc(admin, node, driver="ipmi", address="10.0.1.5", credential="fuzz-bmc")
    project = rbac.create_project(admin, "fuzz-team", owner=admin)
    django_user_model.objects.create_user(username="fuzz-member")
    rbac.add_member(admin, project, "fuzz-member")
    token, _ = onetime.issue_token(admin, "secret", "fuzz-bmc")
    return {
        "/api/v1/nodes/{id}": {"id": node.pk, "key_id": node.host_keys.get().pk},
        "/api/v1/projects/{id}": {"id": project.pk, "username": "fuzz-member"},
        "/api/v1/jobs/{id}": {"id": job_services.start_job(admin, "core.selfcheck").pk},
        "/api/v1/secrets/{id}": {"id": secret.pk},
        "/api/v1/keyvault/tokens/{id}": {"id": str(token.pk)},
        "/api/v1/keyvault/access-log/{id}": {"id": SecretAccess.objects.latest("pk").pk},
        "/api/v1/audit/{id}": {"id": AuditEvent.objects.latest("pk").pk},
        "/api/v1/users/{id}": {"id": admin.pk},
    }


def aim_at_world(case, world) -> None:
    """Well-formed path parameters (integers, UUIDs, names) point at the world's objects;
    malformed ones (negative mode) are sent as generated."""
    params = case.path_parameters or {}
    prefix = next((p for p in world if case.operation.path.startswith(p)), None)
    for name, value in world.get(prefix, {}).items():
        generated = params.get(name)
        well_formed = (isinstance(generated, int) and not isinstance(generated, bool)) or (
            isinstance(generated, str) and generated.isascii() and generated.replace("-", "").isalnum())
        if name in params and well_formed:
            params[name] = value


@schema.parametrize()
def test_no_operation_answers_500(case, fuzz_headers, wsgi_app, world):
    aim_at_world(case, world)
    response = case.call(headers=fuzz_headers, app=wsgi_app)
    if str(response.status_code) in case.operation.definition.raw.get("responses", {}):
        return  # a documented answer, e.g. /api/health's 503 while no Celery worker runs here
    case.validate_response(response, checks=[not_a_server_error])


def test_the_fuzzed_schema_is_the_served_one(fuzz_headers, client):
    served = client.get("/api/schema/?format=json", headers=fuzz_headers)
    assert served.status_code == 200
    assert operations(json.loads(served.content)) == operations(served_schema())
    assert len(operations(served_schema())) > 40
