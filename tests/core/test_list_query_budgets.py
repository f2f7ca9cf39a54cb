"""Query budgets: every list page renders in the same number of SQL statements with 10 rows as with
1,000 (no per-row queries), pinned per page. A list page the URL conf gains without rows to fill
it here fails `test_every_list_page_has_a_budget`."""
from __future__ import annotations

import datetime as dt
import secrets

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver, reverse
from django.utils import timezone
from django.views.generic.list import MultipleObjectMixin

from apps.core.models import AuditEvent
from apps.jobs.models import Job, JobStatus
from apps.keyvault.models import AccessKind, OneTimeToken, Secret, SecretAccess
from apps.nodes.models import Bmc, Node
from apps.rbac.models import Project
from tests.allocations import budget_rows as allocation_rows
from tests.clusters import budget_rows as cluster_rows
from tests.clusters import job_budget_rows as job_rows
from tests.events import budget_rows as event_rows
from tests.nodes import salt_budget_rows as salt_rows

pytestmark = pytest.mark.django_db


def _projects(n, start):
    groups = Group.objects.bulk_create([Group(name=f"project:budget-{i}") for i in range(start, start + n)])
    return Project.objects.bulk_create([Project(name=f"budget-{i}", group=g) for i, g in zip(range(start, start + n), groups)])


def nodes(n, start, user):
    project = _projects(1, 10_000 + start)[0]
    secret = _secrets(1, 10_000 + start, user)[0]
    made = Node.objects.bulk_create([
        Node(name=f"node-{i:05d}", address=f"10.1.{i // 256}.{i % 256}", labels=["gpu", f"rack-{i % 7}"],
             project=project, facts={"cpu_model": "EPYC", "cpu_sockets": 2, "memory_bytes": 2**40, "gpu_count": 8},
             last_seen=timezone.now()) for i in range(start, start + n)])
    Bmc.objects.bulk_create([Bmc(node=node, driver="redfish", address="https://10.9.0.1", credential=secret,
                                 power_state="on") for node in made])


def jobs(n, start, user):
    Job.objects.bulk_create([Job(kind="core.pulse", status=JobStatus.SUCCEEDED, requester=user, progress=100,
                                 params={"count": i}) for i in range(start, start + n)])


def audit(n, start, user):
    AuditEvent.objects.bulk_create([AuditEvent(actor=user, actor_repr=user.username, action="node.update",
                                               object_repr=f"node-{i}", changes={"labels": [[], ["x"]]})
                                    for i in range(start, start + n)])


def _secrets(n, start, user):
    return Secret.objects.bulk_create([Secret(name=f"secret-{i:05d}", ciphertext="x", checksum="0" * 64,
                                              created_by=user, updated_by=user) for i in range(start, start + n)])


def secrets_(n, start, user):
    project = _projects(1, 20_000 + start)[0]
    made = _secrets(n, start, user)
    Secret.objects.filter(pk__in=[s.pk for s in made]).update(project=project)


def tokens(n, start, user):
    now = timezone.now()
    OneTimeToken.objects.bulk_create([
        OneTimeToken(purpose="secret", subject=f"secret-{i}", token_hash=secrets.token_hex(32),
                     token_prefix=f"p{i}", created_by=user, expires_at=now + dt.timedelta(minutes=5))
        for i in range(start, start + n)])


def accesses(n, start, user):
    secret = _secrets(1, 30_000 + start, user)[0]
    SecretAccess.objects.bulk_create([SecretAccess(secret=secret, secret_name=secret.name, kind=AccessKind.USE,
                                                   actor=user, actor_repr=user.username, purpose="budget", version=1)
                                      for _ in range(n)])


def projects(n, start, user):
    _projects(n, start)


def gpus(n, start, user):
    from apps.gpus.models import Gpu

    project = _projects(1, 40_000 + start)[0]
    made = Node.objects.bulk_create([Node(name=f"gpu-host-{i:05d}", address=f"10.2.{i // 256}.{i % 256}",
                                          project=project) for i in range(start, start + n)])
    Gpu.objects.bulk_create([Gpu(node=node, index=0, uuid=f"GPU-budget-{i}", model="NVIDIA H100", labels=["a"],
                                 memory_total_mib=81559, last_sample={"utilization_pct": 50.0, "memory_used_mib": 1024},
                                 last_sample_at=timezone.now()) for i, node in zip(range(start, start + n), made)])


# URL name -> (rows maker, pinned SQL statements for a superuser's first page: session, user, the
# page's count and rows with their related objects in joins)
BUDGETS = {
    "nodes:list": (nodes, 5),
    "gpus:list": (gpus, 5),
    "clusters:list": (cluster_rows.clusters, 5),
    "clusters:jobs": (job_rows.slurm_jobs, 7),
    "clusters:job-templates": (job_rows.job_templates, 5),
    "events:alerts": (event_rows.alerts, 5),
    "events:rules": (event_rows.event_rules, 5),
    "events:deliveries": (event_rows.deliveries, 5),
    "jobs:list": (jobs, 5),
    "core:audit": (audit, 5),
    "keyvault:list": (secrets_, 6),
    "keyvault:tokens": (tokens, 5),
    "keyvault:access-log": (accesses, 5),
    "rbac:projects": (projects, 6),
    "allocations:list": (allocation_rows.allocations, 6),
    "allocations:approvals": (allocation_rows.allocations, 5),
    "nodes:salt-minions": (salt_rows.minions, 5),
    "nodes:salt-runs": (salt_rows.salt_runs, 5),
}


def _list_pages():
    """Every named route whose view lists a queryset (ListView and the kit's list views)."""
    found = set()

    def walk(patterns, namespace=""):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace)
                continue
            view = getattr(pattern.callback, "view_class", None)
            if view and issubclass(view, MultipleObjectMixin) and pattern.name and "api" not in namespace:
                found.add(f"{namespace}{pattern.name}")
    walk(get_resolver().url_patterns)
    return found


def test_every_list_page_has_a_budget():
    assert _list_pages() == set(BUDGETS)


def _statements(client, url) -> int:
    client.get(url)  # first request: session, content types and permissions caches
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.fixture
def sre(make_user):
    user = make_user("budget-sre", staff=True)
    user.groups.add(Group.objects.get(name="sre"))
    return user


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_list_page_statements_do_not_grow_with_rows(client, root, name):
    make, pinned = BUDGETS[name]
    url = reverse(name)
    client.force_login(root)
    make(10, 0, root)
    small = _statements(client, url)
    make(990, 10, root)
    large = _statements(client, url)
    assert small == large, f"{url}: {small} statements with 10 rows, {large} with 1,000"
    if pinned is not None:
        assert large == pinned, f"{url}: {large} statements (pinned {pinned})"


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_list_page_statements_do_not_grow_with_rows_for_a_role(client, root, sre, name):
    """The same through the permission filter (sre: group permissions, no superuser shortcut)."""
    make, _ = BUDGETS[name]
    url = reverse(name)
    client.force_login(sre)
    make(10, 0, root)
    small = _statements(client, url)
    make(990, 10, root)
    assert small == _statements(client, url)
