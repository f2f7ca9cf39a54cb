"""Query budgets of the API lists: every list endpoint answers in the same number of SQL statements
with 10 rows as with 1,000 (no per-row queries), pinned per endpoint, for limit/offset pages,
cursor pages and brief rows. A list route the API gains without a budget here fails
`test_every_api_list_has_a_budget`; a list viewset not built on the lean base fails
`test_every_api_list_is_lean`."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver, reverse

from apps.core.api.lists import LeanViewSetMixin
from apps.keyvault.models import OneTimeToken, RedeemOutcome, TokenRedemption
from tests.allocations import budget_rows as allocation_rows
from tests.clusters import job_budget_rows as job_rows
from tests.clusters import workflow_budget_rows as workflow_rows
from tests.core.test_list_query_budgets import accesses, audit, jobs, nodes, projects, secrets_, tokens
from tests.events import budget_rows as ev
from tests.clusters import budget_rows as cluster_rows
from tests.gpus.test_query_budget import gpus
from tests.nodes import salt_budget_rows as salt_rows

pytestmark = pytest.mark.django_db


def redemptions(n, start, user):
    tokens(1, 40_000 + start, user)
    token = OneTimeToken.objects.latest("created_at")
    TokenRedemption.objects.bulk_create([TokenRedemption(token=token, outcome=RedeemOutcome.REPLAYED,
                                                         ip="10.0.0.1") for _ in range(n)])


def agent_credentials(n, start, user):
    from apps.gpus.models_agent import NodeCredential
    from apps.nodes.models import Node

    node = Node.objects.create(name=f"agent-node-{start}", address="10.7.0.1")
    NodeCredential.objects.bulk_create([NodeCredential(node=node, key_id=f"k{i:07d}", secret_hash="0" * 64,
                                                       created_by=user) for i in range(start, start + n)])


def users(n, start, user):
    made = get_user_model().objects.bulk_create([get_user_model()(username=f"budget-user-{i:05d}")
                                                 for i in range(start, start + n)])
    sre = Group.objects.get(name="sre")
    for member in made[:3]:
        member.groups.add(sre)


# route name -> (rows maker, pinned statements as a superuser: limit/offset page, cursor page, brief)
# (a page: authentication is forced, so no session query; the count (not on cursor pages), the rows
# with their joins, one query per prefetched relation)
BUDGETS = {
    "api:node-list": (nodes, (2, 1, 2)),
    "api:job-list": (jobs, (2, 1, 2)),
    "api:audit-list": (audit, (2, 1, 2)),
    "api:secret-list": (secrets_, (2, 1, 2)),
    "api:keyvault-token-list": (tokens, (2, 1, 2)),
    "api:keyvault-access-list": (accesses, (2, 1, 2)),
    "api:keyvault-redemption-list": (redemptions, (2, 1, 2)),
    "api:project-list": (projects, (2, 1, 2)),
    "api:user-list": (users, (3, 2, 2)),
    "api:event-list": (ev.events, (2, 1, 2)),
    "api:eventrule-list": (ev.event_rules, (2, 1, 2)),
    "api:webhookdelivery-list": (ev.deliveries, (2, 1, 2)),
    "api:alertrule-list": (ev.alert_rules, (2, 1, 2)),
    "api:alert-list": (ev.alerts, (2, 1, 2)),
    "api:gpu-list": (gpus, (2, 1, 2)),
    "api:cluster-list": (cluster_rows.clusters, (2, 1, 2)),
    "api:server-list": (nodes, (2, 1, 2)),  # the seed's alias of the node list
    "api:agent-credential-list": (agent_credentials, (2, 1, 2)),
    "api:slurmjob-list": (job_rows.slurm_jobs, (2, 1, 2)),
    "api:jobtemplate-list": (job_rows.job_templates, (2, 1, 2)),
    "api:allocation-list": (allocation_rows.allocations, (2, 1, 2)),
    "api:salt-minion-list": (salt_rows.minions, (2, 1, 2)),
    "api:salt-run-list": (salt_rows.salt_runs, (2, 1, 2)),
    "api:workflow-list": (workflow_rows.workflow_runs, (2, 1, 2)),
}
MODES = {"page": "", "cursor": "?cursor=", "brief": "?brief=1"}


def _api_list_routes() -> dict[str, type]:
    found = {}

    def walk(patterns, namespace=""):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace)
                continue
            actions = getattr(pattern.callback, "actions", None) or {}
            if namespace == "api:" and actions.get("get") == "list":
                found[f"{namespace}{pattern.name}"] = pattern.callback.cls
    walk(get_resolver().url_patterns)
    return found


def test_every_api_list_has_a_budget():
    assert set(_api_list_routes()) == set(BUDGETS)


def test_every_api_list_is_lean():
    plain = [name for name, view in _api_list_routes().items() if not issubclass(view, LeanViewSetMixin)]
    assert plain == []


def _statements(client, url, rows=True) -> int:
    client.get(url)  # first request: content types and permission caches
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    assert bool(response.json()["results"]) or not rows, url
    return len(queries)


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_api_list_statements_do_not_grow_with_rows(api, root, name, mode):
    make, pinned = BUDGETS[name]
    url = reverse(name) + MODES[mode]
    client = api(root)
    make(10, 0, root)
    small = _statements(client, url)
    make(990, 10, root)
    large = _statements(client, url)
    assert small == large, f"{url}: {small} statements with 10 rows, {large} with 1,000"
    assert large == pinned[list(MODES).index(mode)], f"{url}: {large} statements (pinned {pinned})"


@pytest.fixture
def sre(make_user):
    user = make_user("budget-sre")
    user.groups.add(Group.objects.get(name="sre"))
    return get_user_model().objects.get(pk=user.pk)


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_api_list_statements_do_not_grow_with_rows_for_a_role(api, root, sre, name):
    """The same through the permission filter (sre: group permissions, no superuser shortcut)."""
    make, _ = BUDGETS[name]
    client = api(sre)
    make(10, 0, root)
    small = _statements(client, reverse(name) + "?cursor=", rows=False)
    make(990, 10, root)
    assert small == _statements(client, reverse(name) + "?cursor=", rows=False)


def test_node_list_expand_costs_one_statement_per_relation(api, root):
    client = api(root)
    nodes(10, 0, root)
    plain = _statements(client, reverse("api:node-list"))
    expanded = _statements(client, reverse("api:node-list") + "?expand=host_keys,bmc,facts")
    nodes(990, 10, root)
    assert _statements(client, reverse("api:node-list") + "?expand=host_keys,bmc,facts") == expanded == plain + 1
