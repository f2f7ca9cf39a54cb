"""Lean API lists (apps/core/api/lists.py): list serializers carry only what the list shows,
?fields= / ?brief= / ?expand=, keyset (cursor) pages beside limit/offset, a maximum page size, and
ETag / conditional GET on details — on every viewset built on the shared base."""
from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

from apps.core.models import AuditEvent
from apps.jobs.models import Job, JobEvent, JobStatus
from apps.nodes.models import Bmc, HostKey, Node
from apps.rbac.models import Membership, Project, ProjectRole
from tests.core.test_list_query_budgets import nodes, projects

pytestmark = pytest.mark.django_db


def _sql(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries]


@pytest.fixture
def fleet(root):
    nodes(30, 0, root)
    for node in Node.objects.all()[:5]:
        HostKey.objects.create(node=node, key_type="ssh-ed25519", public_key="AAAA" + node.name,
                               fingerprint=node.name)
    return root


def test_node_list_neither_prefetches_host_keys_nor_joins_the_bmc_credential(fleet, api):
    with CaptureQueriesContext(connection) as queries:
        resp = api(fleet).get("/api/v1/nodes/")
    assert resp.status_code == 200 and len(resp.json()["results"]) == 30
    sql = "\n".join(_sql(queries))
    assert "nodes_hostkey" not in sql
    assert '"nodes_bmc"."credential_id" =' not in sql  # the BMC's credential is not joined
    row = resp.json()["results"][0]
    assert "host_keys" not in row and "facts" not in row and "bmc" not in row
    assert row["power_state"] == "on" and row["url"] == f"/api/v1/nodes/{row['id']}/"


def test_lists_leave_heavy_columns_they_do_not_show_unread(fleet, api):
    client = api(fleet)
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/v1/nodes/")
    assert not any('"nodes_node"."facts"' in q for q in _sql(queries))
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/v1/nodes/?expand=facts")
    assert any('"nodes_node"."facts"' in q for q in _sql(queries))
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/secrets/").json()["results"]
    assert not any('"keyvault_secret"."ciphertext"' in q for q in _sql(queries))


def test_node_detail_still_carries_host_keys_and_bmc(fleet, api):
    node = HostKey.objects.first().node
    body = api(fleet).get(f"/api/v1/nodes/{node.pk}/").json()
    assert [k["fingerprint"] for k in body["host_keys"]] == [node.name]
    assert body["bmc"]["credential"] == Bmc.objects.get(node=node).credential.name


def test_expand_brings_a_relation_into_the_list_in_one_query(fleet, api):
    client = api(fleet)
    client.get("/api/v1/nodes/?expand=host_keys,bmc")
    with CaptureQueriesContext(connection) as queries:
        resp = client.get("/api/v1/nodes/?expand=host_keys,bmc&limit=100")
    rows = resp.json()["results"]
    with_keys = [r for r in rows if r["host_keys"]]
    assert len(with_keys) == 5 and all(r["bmc"]["driver"] == "redfish" for r in rows)
    assert sum("nodes_hostkey" in q for q in _sql(queries)) == 1


def test_expand_of_an_unknown_relation_is_a_400_naming_it(fleet, api):
    resp = api(fleet).get("/api/v1/nodes/?expand=bmc,gpus")
    assert resp.status_code == 400
    assert "gpus" in resp.json()["expand"][0] and "host_keys" in resp.json()["expand"][0]


def test_fields_keeps_only_the_named_fields(fleet, api):
    rows = api(fleet).get("/api/v1/nodes/?fields=id,name,state").json()["results"]
    assert set(rows[0]) == {"id", "name", "state"}


def test_fields_on_a_detail(fleet, api):
    node = Node.objects.first()
    body = api(fleet).get(f"/api/v1/nodes/{node.pk}/?fields=name,host_keys").json()
    assert set(body) == {"name", "host_keys"}


@pytest.mark.parametrize("fields, bad", [("id,nmae", "nmae"), ("known_host_keys", "known_host_keys"),
                                         ("id,,name", "")])
def test_unknown_field_is_a_400_naming_it(fleet, api, fields, bad):
    resp = api(fleet).get(f"/api/v1/nodes/?fields={fields}")
    assert resp.status_code == 400
    message = resp.json()["fields"][0]
    assert f"'{bad}'" in message


def test_fields_does_not_apply_to_writes(root, api):
    resp = api(root).post("/api/v1/nodes/?fields=id", {"name": "fresh", "address": "10.0.0.9"}, format="json")
    assert resp.status_code == 201 and "address" in resp.json()


def test_brief_is_id_url_and_name(fleet, api):
    client = api(fleet)
    client.get("/api/v1/nodes/?brief=1")
    with CaptureQueriesContext(connection) as queries:
        rows = client.get("/api/v1/nodes/?brief=1").json()["results"]
    node = Node.objects.get(name=rows[0]["name"])
    assert rows[0] == {"id": node.pk, "url": f"/api/v1/nodes/{node.pk}/", "display": str(node), "name": node.name}
    assert all("JOIN" not in q for q in _sql(queries) if "nodes_node" in q)


def test_brief_of_a_model_without_a_name(root, api):
    AuditEvent.objects.create(actor=root, actor_repr="root", action="node.update", object_repr="n1")
    row = api(root).get("/api/v1/audit/?brief=true").json()["results"][0]
    assert set(row) == {"id", "url", "display"} and "node.update" in row["display"]


def test_brief_must_be_a_boolean(fleet, api):
    resp = api(fleet).get("/api/v1/nodes/?brief=maybe")
    assert resp.status_code == 400 and "brief" in resp.json()


# --- page sizes --------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["limit=100000", "cursor=&limit=100000", "limit=0"])
def test_a_page_larger_than_the_maximum_is_a_400_naming_limit(fleet, api, query):
    resp = api(fleet).get(f"/api/v1/nodes/?{query}")
    assert resp.status_code == 400 and "limit" in resp.json()


def test_the_maximum_page_is_served(fleet, api, settings):
    resp = api(fleet).get(f"/api/v1/nodes/?limit={settings.API_MAX_PAGE_SIZE}")
    assert resp.status_code == 200 and len(resp.json()["results"]) == 30


# --- keyset pages ------------------------------------------------------------------------------

def _walk(client, url, between=None):
    seen, pages = [], 0
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
        pages += 1
        if between:
            between(pages)
    return seen


def test_cursor_walks_every_node_exactly_once_while_nodes_are_added(fleet, api):
    before = set(Node.objects.values_list("pk", flat=True))
    added = []

    def insert(page):
        # One before every page position (name sorts first) and one after (sorts last).
        added.append(Node.objects.create(name=f"a-new-{page}", address=f"10.3.0.{page}").pk)
        added.append(Node.objects.create(name=f"z-new-{page}", address=f"10.4.0.{page}").pk)
    seen = _walk(api(fleet), "/api/v1/nodes/?cursor=&limit=7", between=insert)
    assert len(seen) == len(set(seen))
    assert before <= set(seen)
    assert set(seen) - before <= set(added)


def test_cursor_walks_every_job_exactly_once_while_jobs_are_added(root, api):
    Job.objects.bulk_create([Job(kind="core.pulse", status=JobStatus.SUCCEEDED, requester=root) for _ in range(25)])
    before = set(Job.objects.values_list("pk", flat=True))
    seen = _walk(api(root), "/api/v1/jobs/?cursor=&limit=4",
                 between=lambda page: Job.objects.create(kind="core.pulse", requester=root))
    assert len(seen) == len(set(seen)) and set(seen) == before  # newest first: later inserts come before


def test_cursor_and_brief_show_only_what_the_user_may_reach(fleet, api, make_user):
    """Keyset pages, brief rows and expansions go through the same restricted queryset."""
    member = make_user("member", "nodes.view_node")
    theirs = Node.objects.order_by("name")[:3]
    project = theirs[0].project
    Node.objects.exclude(pk__in=[n.pk for n in theirs]).update(project=None)
    Membership.objects.create(project=project, user=member, role=ProjectRole.MEMBER)
    client = api(member)
    assert sorted(_walk(client, "/api/v1/nodes/?cursor=&limit=2")) == sorted(n.pk for n in theirs)
    rows = client.get("/api/v1/nodes/?brief=1&expand=host_keys").json()["results"]
    assert sorted(r["id"] for r in rows) == sorted(n.pk for n in theirs)


def test_deep_cursor_page_uses_no_offset(fleet, api):
    client = api(fleet)
    body = client.get("/api/v1/nodes/?cursor=&limit=10").json()
    body = client.get(body["next"]).json()
    with CaptureQueriesContext(connection) as queries:
        client.get(body["next"])
    page_sql = [q for q in _sql(queries) if 'FROM "nodes_node"' in q]
    assert page_sql and not any("OFFSET" in q for q in page_sql)
    assert not any("COUNT(" in q for q in page_sql)
    assert any('"nodes_node"."name" >' in q for q in page_sql)


def test_cursor_pages_have_no_count_and_name_their_order(fleet, api):
    body = api(fleet).get("/api/v1/nodes/?cursor=&limit=10").json()
    assert "count" not in body and body["previous"] is None and "cursor=" in body["next"]


def test_cursor_with_ordering_is_a_400_naming_ordering(fleet, api):
    resp = api(fleet).get("/api/v1/nodes/?cursor=&ordering=state")
    assert resp.status_code == 400 and "name" in resp.json()["ordering"][0]


def test_a_forged_cursor_is_a_400_naming_cursor(fleet, api):
    resp = api(fleet).get("/api/v1/nodes/?cursor=bz1hYmM%3D")
    assert resp.status_code == 400 and "cursor" in resp.json()


def test_cursor_pages_keep_filters(fleet, api):
    Node.objects.filter(name__in=["node-00001", "node-00002"]).update(state="unreachable")
    rows = api(fleet).get("/api/v1/nodes/?cursor=&state=unreachable").json()["results"]
    assert [r["name"] for r in rows] == ["node-00001", "node-00002"]


def test_job_events_page_by_cursor(root, api):
    job = Job.objects.create(kind="core.pulse", requester=root)
    JobEvent.objects.bulk_create([JobEvent(job=job, seq=i, kind="log", message=f"line {i}", timestamp=timezone.now())
                                  for i in range(1, 26)])
    client = api(root)
    url, seqs = f"/api/v1/jobs/{job.pk}/events/?cursor=&limit=10", []
    while url:
        body = client.get(url).json()
        seqs += [e["seq"] for e in body["results"]]
        url = body["next"]
    assert seqs == list(range(1, 26))
    assert client.get(f"/api/v1/jobs/{job.pk}/events/?limit=5000").status_code == 400


# --- conditional GET ---------------------------------------------------------------------------

def test_detail_etag_answers_304_until_the_object_changes(fleet, api):
    client = api(fleet)
    node = Node.objects.first()
    first = client.get(f"/api/v1/nodes/{node.pk}/")
    etag = first["ETag"]
    assert etag.startswith('"') and "private" in first["Cache-Control"]
    again = client.get(f"/api/v1/nodes/{node.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag and not again.content
    Node.objects.filter(pk=node.pk).update(state_reason="changed")
    changed = client.get(f"/api/v1/nodes/{node.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_etag_differs_by_representation(fleet, api):
    client = api(fleet)
    node = Node.objects.first()
    full = client.get(f"/api/v1/nodes/{node.pk}/")["ETag"]
    brief = client.get(f"/api/v1/nodes/{node.pk}/?fields=name")
    assert brief["ETag"] != full
    assert client.get(f"/api/v1/nodes/{node.pk}/?fields=name", HTTP_IF_NONE_MATCH=full).status_code == 200


def test_etag_is_not_a_way_around_object_permissions(fleet, api, make_user):
    node = Node.objects.first()
    etag = api(fleet).get(f"/api/v1/nodes/{node.pk}/")["ETag"]
    stranger = make_user("stranger", "nodes.view_node")
    assert api(stranger).get(f"/api/v1/nodes/{node.pk}/", HTTP_IF_NONE_MATCH=etag).status_code == 404


def test_lists_of_other_apps_share_the_base(root, api):
    projects(1, 0, root)
    client = api(root)
    assert set(client.get("/api/v1/projects/?fields=id,name").json()["results"][0]) == {"id", "name"}
    assert "members" not in client.get("/api/v1/projects/").json()["results"][0]
    assert client.get("/api/v1/secrets/?fields=value").status_code == 400
    assert client.get("/api/v1/audit/?cursor=").status_code == 200



def test_project_members_come_with_the_detail_or_expand(root, api, make_user):
    projects(1, 0, root)
    project = Project.objects.get(name="budget-0")
    Membership.objects.create(project=project, user=make_user("ann"), role=ProjectRole.MEMBER)
    client = api(root)
    row = client.get("/api/v1/projects/?expand=members").json()["results"][0]
    assert [m["username"] for m in row["members"]] == ["ann"] and row["url"] == f"/api/v1/projects/{project.pk}/"
    assert [m["username"] for m in client.get(f"/api/v1/projects/{project.pk}/").json()["members"]] == ["ann"]


def test_heavy_columns_expand_by_name(fleet, api):
    rows = api(fleet).get("/api/v1/nodes/?fields=name,facts").json()["results"]
    assert set(rows[0]) == {"name", "facts"} and rows[0]["facts"]["gpu_count"] == 8

# --- OpenAPI ------------------------------------------------------------------------------------

def served_schema() -> dict:
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


def test_schema_describes_the_list_parameters():
    paths = served_schema()["paths"]

    def params(path, method="get"):
        return {p["name"]: p for p in paths[path][method].get("parameters", [])}
    nodes_list = params("/api/v1/nodes/")
    assert {"limit", "offset", "cursor", "fields", "brief", "expand"} <= set(nodes_list)
    assert "host_keys" in nodes_list["expand"]["description"] and "name" in nodes_list["cursor"]["description"]
    assert {"fields", "brief", "expand"} <= set(params("/api/v1/nodes/{id}/"))
    assert "fields" not in params("/api/v1/nodes/{id}/", "put")
    assert {"cursor", "fields", "brief"} <= set(params("/api/v1/audit/")) and "expand" not in params("/api/v1/audit/")
    assert {"cursor", "after", "limit"} <= set(params("/api/v1/jobs/{id}/events/"))
    page = paths["/api/v1/nodes/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    schema = served_schema()["components"]["schemas"][page.rsplit("/", 1)[1]]
    assert schema["required"] == ["results"]
    row = schema["properties"]["results"]["items"]["$ref"].rsplit("/", 1)[1]
    assert row == "NodeList"
