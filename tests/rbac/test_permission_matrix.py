"""Every API endpoint x every role template (+ anonymous): exactly the expected status.

Objects used: a job and a project that belong to nobody in the matrix, so only unrestricted
roles (admin, sre) may reach them; everyone else gets 404 (existence is not revealed).
"""
import pytest

from apps.jobs import services as job_services
from apps.rbac import services as rbac_services

from .matrix import ALL, call, expand, role_users

pytestmark = pytest.mark.django_db

ANON = 401

MATRIX = [
    # (method, url template, body, expected)
    ("GET", "/api/v1/jobs/", None, {"*": 200, "anonymous": ANON}),
    ("POST", "/api/v1/jobs/", {"kind": "core.selfcheck"}, {"admin,sre": 202, "*": 403, "anonymous": ANON}),
    ("GET", "/api/v1/jobs/{job}/", None, {"admin,sre": 200, "*": 404, "anonymous": ANON}),
    ("GET", "/api/v1/jobs/{job}/events/", None, {"admin,sre": 200, "*": 404, "anonymous": ANON}),
    ("POST", "/api/v1/jobs/{job}/retry/", None, {"admin,sre": 409, "*": 404, "anonymous": ANON}),
    ("POST", "/api/v1/jobs/{job}/cancel/", None, {"admin,sre": 202, "*": 404, "anonymous": ANON}),
    ("GET", "/api/v1/audit/", None, {"admin,sre": 200, "*": 403, "anonymous": ANON}),
    ("GET", "/api/v1/users/", None, {"*": 200, "anonymous": ANON}),
    ("GET", "/api/v1/projects/", None, {"*": 200, "anonymous": ANON}),
    ("POST", "/api/v1/projects/", {"name": "new-{role}"}, {"admin": 201, "*": 403, "anonymous": ANON}),
    ("GET", "/api/v1/projects/{project}/", None, {"admin,sre": 200, "*": 404, "anonymous": ANON}),
    ("PATCH", "/api/v1/projects/{project}/", {"description": "x"}, {"admin": 200, "sre": 403, "*": 404,
                                                                     "anonymous": ANON}),
    ("POST", "/api/v1/projects/{project}/members/", {"username": "u-engineer"},
     {"admin": 201, "sre": 403, "*": 404, "anonymous": ANON}),
    ("GET", "/api/v1/roles/", None, {"*": 200, "anonymous": ANON}),
    ("GET", "/api/v1/me/", None, {"*": 200, "anonymous": ANON}),
]


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr(job_services, "enqueue", lambda job: None)


@pytest.mark.parametrize("method, url, body, spec", MATRIX, ids=[f"{m} {u}" for m, u, _, _ in MATRIX])
def test_permission_matrix(django_user_model, method, url, body, spec):
    users = role_users(django_user_model)
    owner = django_user_model.objects.create_user(username="outsider")
    owner.user_permissions.add(*__import__("django.contrib.auth.models", fromlist=["Permission"])
                               .Permission.objects.filter(codename="run_selfcheck"))
    owner = django_user_model.objects.get(pk=owner.pk)
    expected = expand(spec)
    results = {}
    for role in ALL:
        # Fresh objects per role, so one role's change does not alter the next one's answer.
        job = job_services.start_job(owner, "core.selfcheck")
        project = rbac_services.create_project(None, f"p-{role}".replace("_", "-"))
        target = url.format(job=job.pk, project=project.pk, role=role)
        payload = {k: (v.format(role=role) if isinstance(v, str) else v) for k, v in (body or {}).items()}
        results[role] = call(users[role], method, target, payload or None).status_code
    assert results == expected


NODE_MATRIX = [
    ("GET", "/api/v1/nodes/", None, {"*": 200, "anonymous": ANON}),
    ("POST", "/api/v1/nodes/", {"name": "new-{role}", "address": "10.0.0.9"}, {"admin,sre": 201, "*": 403,
                                                                                "anonymous": ANON}),
    ("GET", "/api/v1/nodes/{node}/", None, {"admin,sre": 200, "*": 404, "anonymous": ANON}),
    ("PATCH", "/api/v1/nodes/{node}/", {"labels": ["x"]}, {"admin,sre": 200, "*": 404, "anonymous": ANON}),
    ("GET", "/api/v1/nodes/{node}/events/", None, {"admin,sre": 200, "*": 404, "anonymous": ANON}),
    ("POST", "/api/v1/nodes/{node}/test-connection/", None, {"admin,sre": 202, "*": 404, "anonymous": ANON}),
    ("POST", "/api/v1/nodes/{node}/probe/", None, {"admin,sre": 202, "*": 404, "anonymous": ANON}),
    ("POST", "/api/v1/nodes/{node}/power/", {"action": "on"}, {"admin,sre": 202, "*": 404, "anonymous": ANON}),
    ("POST", "/api/v1/nodes/{node}/boot-device/", {"device": "pxe"}, {"admin,sre": 202, "*": 404,
                                                                      "anonymous": ANON}),
    ("POST", "/api/v1/nodes/run-command/", {"nodes": ["{nodename}"], "argv": ["uptime"]},
     {"admin,sre": 202, "*": 403, "anonymous": ANON}),
    ("POST", "/api/v1/nodes/import/", {"format": "json", "content": '[{"name": "imp-{role}", "address": "10.0.0.8"}]'},
     {"admin,sre": 201, "*": 403, "anonymous": ANON}),
    ("DELETE", "/api/v1/nodes/{node}/", None, {"admin,sre": 204, "*": 404, "anonymous": ANON}),
]


@pytest.mark.parametrize("method, url, body, spec", NODE_MATRIX, ids=[f"{m} {u}" for m, u, _, _ in NODE_MATRIX])
def test_node_permission_matrix(django_user_model, method, url, body, spec):
    from apps.nodes import services as node_services

    users = role_users(django_user_model)
    root = django_user_model.objects.create_superuser(username="matrix-root", password="pw-Matrix-Root-1")
    results = {}
    for role in ALL:
        node = node_services.create_node(root, name=f"n-{role}", address="10.0.0.7")
        target = url.format(node=node.pk, role=role)
        payload = json_format(body, role=role, nodename=node.name)
        results[role] = call(users[role], method, target, payload).status_code
    assert results == expand(spec)


def json_format(body, **values):
    if body is None:
        return None
    import json

    text = json.dumps(body)
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return json.loads(text)
