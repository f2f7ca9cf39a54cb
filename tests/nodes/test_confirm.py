"""Destructive node actions confirm first; refusals read as sentences, not dicts."""
import pytest
from django.contrib.messages import get_messages

from apps.jobs import services as jobs
from apps.jobs.models import Job
from apps.nodes.models import Node
from apps.nodes.views import DESTRUCTIVE_ACTIONS

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr(jobs, "enqueue", lambda job: None)


@pytest.fixture
def node():
    return Node.objects.create(name="gpu-01", address="10.0.0.5")


def _messages(resp):
    return [str(m) for m in get_messages(resp.wsgi_request)]


def test_empty_bulk_selection_is_a_readable_message(client, root):
    client.force_login(root)
    resp = client.post("/nodes/actions/", {"action": "probe"}, follow=True)
    html = resp.content.decode()
    assert "Select at least one node first." in html
    assert "{&#x27;nodes&#x27;" not in html and "{'nodes'" not in html
    assert Job.objects.count() == 0


@pytest.mark.parametrize("action", ["off", "reset", "cycle", "graceful-shutdown"])
def test_power_off_needs_confirmation(client, root, node, action):
    client.force_login(root)
    first = client.post(f"/nodes/{node.pk}/actions/", {"action": action, "next": "/nodes/?state=new"})
    html = first.content.decode()
    assert first.status_code == 200 and 'id="confirm"' in html
    assert "gpu-01" in html and 'name="confirm" value="yes"' in html
    assert DESTRUCTIVE_ACTIONS[action][1] in html  # says what will happen
    assert 'name="next" value="/nodes/?state=new"' in html
    assert Job.objects.count() == 0
    # The wrong confirm value is no confirmation either.
    assert client.post(f"/nodes/{node.pk}/actions/", {"action": action, "confirm": "1"}).status_code == 200
    assert Job.objects.count() == 0

    done = client.post(f"/nodes/{node.pk}/actions/", {"action": action, "confirm": "yes"})
    job = Job.objects.get()
    assert done.status_code == 302 and done["Location"] == f"/jobs/{job.pk}/"
    assert job.kind == "nodes.power" and job.params["action"] == action and job.params["node"] == node.pk


def test_get_shows_confirmation_and_starts_nothing(client, root, node):
    client.force_login(root)
    resp = client.get(f"/nodes/{node.pk}/actions/", {"action": "off"})
    assert resp.status_code == 200 and "Power off node gpu-01?" in resp.content.decode()
    assert client.get(f"/nodes/{node.pk}/actions/").status_code == 302
    assert Job.objects.count() == 0


def test_power_on_and_probe_need_no_confirmation(client, root, node):
    client.force_login(root)
    for action in ("on", "probe", "test-connection"):
        assert client.post(f"/nodes/{node.pk}/actions/", {"action": action}).status_code == 302
    assert Job.objects.count() == 3


def test_bulk_power_off_lists_nodes_then_starts_one_job_each(client, root, node):
    other = Node.objects.create(name="gpu-02", address="10.0.0.6")
    client.force_login(root)
    first = client.post("/nodes/actions/", {"action": "off", "nodes": ["gpu-01", "gpu-02"]})
    html = first.content.decode()
    assert first.status_code == 200 and "Power off 2 nodes?" in html
    # The confirmation carries the nodes by primary key, and names each one.
    assert f'name="pk" value="{node.pk}"' in html and f'name="pk" value="{other.pk}"' in html
    assert ">gpu-01</a>" in html and ">gpu-02</a>" in html
    assert "No BMC configured for gpu-01, gpu-02" in html
    assert Job.objects.count() == 0
    done = client.post("/nodes/actions/", {"action": "off", "nodes": ["gpu-01", "gpu-02"], "confirm": "yes"})
    assert done.status_code == 302 and done["Location"] == "/jobs/"
    assert sorted(Job.objects.values_list("params__node", flat=True)) == sorted([node.pk, other.pk])


def test_who_may_not_manage_gets_no_confirmation_page(client, make_user, node):
    viewer = make_user("viewer", "nodes.view_node", "nodes.manage_node")
    client.force_login(viewer)
    resp = client.post("/nodes/actions/", {"action": "off", "nodes": ["gpu-01"]})
    assert resp.status_code == 302 and Job.objects.count() == 0
    assert _messages(resp)  # refused, said in words


def test_a_confirmed_bulk_power_action_starts_all_or_none(client, root, node, monkeypatch):
    """A refusal on a later node (here the job service refusing the second start) rolls back the
    jobs already created for earlier ones: none is left queued for a half-done bulk action."""
    from apps.core.errors import Forbidden
    from apps.jobs import services as jobs

    Node.objects.create(name="gpu-02", address="10.0.0.6")
    real_start, started = jobs.start_job, []

    def start_then_refuse(user, kind, params=None, **kwargs):
        if started:
            raise Forbidden("You may not manage node gpu-02.")
        started.append(real_start(user, kind, params, **kwargs))
        return started[-1]

    monkeypatch.setattr(jobs, "start_job", start_then_refuse)
    client.force_login(root)
    resp = client.post("/nodes/actions/", {"action": "off", "nodes": ["gpu-01", "gpu-02"], "confirm": "yes"})
    assert resp.status_code == 302 and len(started) == 1
    assert Job.objects.count() == 0
