"""The global search page (/search/?q=): hits grouped by kind and linked, only among what the user
may see, secrets by name only, a constant number of queries, a bounded query text."""
import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.jobs import services as jobs
from apps.keyvault.services import create_secret
from apps.nodes import services as nodes
from apps.rbac import services as rbac

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr(jobs, "enqueue", lambda job: None)


def _engineer(make_user, name):
    user = make_user(name, "keyvault.view_secret")
    user.groups.add(Group.objects.get(name="engineer"))
    return user


@pytest.fixture
def two_projects(make_user, root):
    """`mine` and `theirs` are each in one project, with a node and a secret there."""
    mine, theirs = _engineer(make_user, "mine"), _engineer(make_user, "theirs")
    for user, project_name in ((mine, "blue"), (theirs, "red")):
        project = rbac.create_project(None, f"rack-{project_name}", owner=user)
        nodes.create_node(root, name=f"rack-{project_name}-node", address=f"10.1.0.{len(project_name)}",
                          project=project)
        create_secret(root, name=f"rack-{project_name}-key", value=f"value-{project_name}",
                      description=f"rack description {project_name}", project=project)
    return mine, theirs


def _groups(html):
    return re.findall(r'data-search-group="([^"]+)"', html)


def test_hits_are_grouped_by_kind_and_link_to_each_object(client, two_projects):
    mine, _ = two_projects
    client.force_login(mine)
    response = client.get("/search/", {"q": "rack"})
    html = response.content.decode()
    assert response.status_code == 200
    assert _groups(html) == ["Nodes", "Projects", "Secrets"]
    node = nodes.Node.objects.get(name="rack-blue-node")
    assert f'href="/nodes/{node.pk}/">rack-blue-node</a>' in html
    assert 'href="/projects/' in html and 'href="/keyvault/' in html


def test_a_user_of_another_project_finds_neither_its_node_nor_its_secret(client, two_projects):
    _, theirs = two_projects
    client.force_login(theirs)
    html = client.get("/search/", {"q": "rack"}).content.decode()
    assert "rack-red-node" in html and "rack-red-key" in html
    assert "rack-blue" not in html
    assert "Nothing found" in client.get("/search/", {"q": "rack-blue"}).content.decode()


def test_secrets_are_found_by_name_never_by_value_or_description(client, root, two_projects):
    client.force_login(root)
    assert "rack-blue-key" in client.get("/search/", {"q": "blue-key"}).content.decode()
    for text in ("value-blue", "description"):
        html = client.get("/search/", {"q": text}).content.decode()
        assert "Nothing found" in html and _groups(html) == [] and "rack-blue-key" not in html


def test_more_links_to_the_filtered_list_when_a_group_is_cut(client, root):
    for i in range(7):
        nodes.create_node(root, name=f"gpu-{i}", address=f"10.2.0.{i + 1}")
    client.force_login(root)
    html = client.get("/search/", {"q": "gpu"}).content.decode()
    assert len(re.findall(r'href="/nodes/\d+/"', html)) == 5
    assert 'href="/nodes/?q=gpu">All matching nodes</a>' in html
    assert "All matching" not in client.get("/search/", {"q": "gpu-3"}).content.decode()


def test_the_number_of_queries_does_not_grow_with_the_rows(client, root, make_user):
    viewer = _engineer(make_user, "viewer")
    project = rbac.create_project(None, "q-team", owner=viewer)
    client.force_login(viewer)

    def add_rows(start, count):
        for i in range(start, start + count):
            nodes.create_node(root, name=f"q-node-{i}", address=f"10.3.{i // 250}.{i % 250 + 1}", project=project)
            create_secret(root, name=f"q-key-{i}", value="v", project=project)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/search/", {"q": "q-"}).status_code == 200
        return len(captured)

    add_rows(0, 2)
    few = queries()
    add_rows(2, 30)
    assert queries() == few


def test_empty_state_without_a_query_and_login_required(client, root):
    assert client.get("/search/", {"q": "x"}).status_code == 302  # to the login page
    client.force_login(root)
    html = client.get("/search/").content.decode()
    assert "Type something to search" in html and "data-search-results" not in html


def test_the_query_is_bounded(client, root):
    client.force_login(root)
    assert client.get("/search/", {"q": "a" * 100}).status_code == 200
    response = client.get("/search/", {"q": "a" * 101})
    assert response.status_code == 400
    assert "q: at most 100 characters." in response.content.decode()
    # NUL never reaches PostgreSQL: the middleware refuses it before the view.
    assert client.get("/search/?q=gpu%00").status_code == 400


def test_the_navbar_has_a_labelled_search_box(client, root):
    client.force_login(root)
    html = client.get("/").content.decode()
    assert '<label class="visually-hidden" for="nav-search">Search</label>' in html
    assert 'action="/search/"' in html and 'aria-keyshortcuts="/"' in html and "search-shortcut.js" in html


def test_the_api_answers_the_same_groups_with_the_same_visibility_and_bound(api, two_projects):
    mine, _ = two_projects
    body = api(mine).get("/api/v1/search/", {"q": "rack"}).json()
    assert body["query"] == "rack"
    assert [g["label"] for g in body["groups"]] == ["Nodes", "Projects", "Secrets"]
    texts = {hit["text"] for group in body["groups"] for hit in group["hits"]}
    assert texts == {"rack-blue-node", "rack-blue", "rack-blue-key"}
    assert "value-blue" not in str(body) and "description" not in str(body)
    too_long = api(mine).get("/api/v1/search/", {"q": "a" * 101})
    assert too_long.status_code == 400 and "q" in too_long.json()
    assert api(mine).get("/api/v1/search/").json() == {"query": "", "groups": []}
