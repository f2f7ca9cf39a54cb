"""The node list's bulk bar on the page kit: the rows post primary keys, destructive actions list
the nodes first, refusals come before the confirmation and read as sentences."""
import pytest
from django.contrib.messages import get_messages

from apps.core.models import AuditEvent
from apps.jobs import services as jobs
from apps.jobs.models import Job
from apps.nodes.models import Node

pytestmark = pytest.mark.django_db

BULK = "/nodes/actions/"


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr(jobs, "enqueue", lambda job: None)


@pytest.fixture
def nodes():
    return [Node.objects.create(name=f"gpu-0{i}", address=f"10.0.0.{i}") for i in (1, 2, 3)]


def _messages(resp):
    return [str(m) for m in get_messages(resp.wsgi_request)]


def test_list_offers_the_actions_the_user_may_take(client, root, make_user, nodes):
    client.force_login(root)
    html = client.get("/nodes/").content.decode()
    assert f'name="pk" value="{nodes[0].pk}"' in html
    for action in ("test-connection", "probe", "on", "off", "cycle", "delete"):
        assert f'name="action" value="{action}"' in html
    assert 'id="node-add"' in html
    client.force_login(make_user("user", "nodes.view_node", "rbac.unrestricted"))
    html = client.get("/nodes/").content.decode()
    assert 'name="action" value="probe"' in html
    assert 'name="action" value="off"' not in html and 'name="action" value="delete"' not in html


def test_probe_by_primary_key_starts_one_job(client, root, nodes):
    client.force_login(root)
    resp = client.post(BULK, {"action": "probe", "pk": [n.pk for n in nodes[:2]]})
    job = Job.objects.get()
    assert resp.status_code == 302 and resp["Location"] == f"/jobs/{job.pk}/"
    assert sorted(job.params["nodes"]) == sorted(n.pk for n in nodes[:2])


def test_power_cycle_by_primary_key_confirms_then_starts_one_job_each(client, root, nodes):
    client.force_login(root)
    ask = client.post(BULK, {"action": "cycle", "pk": [n.pk for n in nodes], "next": "/nodes/?state=new"})
    html = ask.content.decode()
    assert ask.status_code == 200 and "Power cycle 3 nodes?" in html and "turns the power off and on again" in html
    assert html.count('class="list-group-item"') == 3 and 'name="next" value="/nodes/?state=new"' in html
    assert not Job.objects.exists()
    done = client.post(BULK, {"action": "cycle", "pk": [n.pk for n in nodes], "confirm": "yes"})
    assert done.status_code == 302 and done["Location"] == "/jobs/" and "Started 3 jobs." in _messages(done)
    assert Job.objects.filter(kind="nodes.power", params__action="cycle").count() == 3


def test_bulk_delete_lists_the_nodes_then_deletes_them_with_one_audit_entry_each(client, root, nodes):
    client.force_login(root)
    pks = [n.pk for n in nodes[:2]]
    ask = client.post(BULK, {"action": "delete", "pk": pks})
    html = ask.content.decode()
    assert ask.status_code == 200 and "Delete 2 nodes?" in html and "host keys, BMC settings and events" in html
    assert ">gpu-01</a>" in html and ">gpu-02</a>" in html and ">gpu-03</a>" not in html
    assert Node.objects.count() == 3
    done = client.post(BULK, {"action": "delete", "pk": pks, "confirm": "yes"})
    assert done.status_code == 302 and "Deleted 2 nodes: gpu-01, gpu-02." in _messages(done)
    assert list(Node.objects.values_list("name", flat=True)) == ["gpu-03"]
    assert AuditEvent.objects.filter(action="node.delete").count() == 2


def test_who_sees_but_may_not_delete_is_refused_before_the_confirmation(client, make_user, nodes):
    client.force_login(make_user("viewer", "nodes.view_node", "rbac.unrestricted"))
    resp = client.post(BULK, {"action": "delete", "pk": [nodes[0].pk]})
    assert resp.status_code == 302 and _messages(resp) == ["You may not delete gpu-01."]
    resp = client.post(BULK, {"action": "off", "pk": [nodes[0].pk]})
    assert resp.status_code == 302 and _messages(resp)[-1] == "You may not change the power of gpu-01."
    assert Node.objects.count() == 3 and not Job.objects.exists()


@pytest.mark.parametrize("data", [{"action": "delete"}, {"action": "off", "pk": ["999999"]},
                                  {"action": "probe", "nodes": ["no-such-node"]}])
def test_empty_or_invisible_selection_is_a_sentence(client, root, make_user, nodes, data):
    client.force_login(root)
    resp = client.post(BULK, data, follow=True)
    html = resp.content.decode()
    assert "Select at least one node first." in html and "{&#x27;" not in html.split("<main")[-1]
    assert Node.objects.count() == 3 and not Job.objects.exists()


def test_unknown_action_and_get_do_nothing(client, root, nodes):
    client.force_login(root)
    resp = client.post(BULK, {"action": "explode", "pk": [nodes[0].pk]})
    assert resp.status_code == 302 and _messages(resp) == ["action: choose one of the buttons."]
    assert client.get(BULK, {"action": "off"}).status_code == 302
    assert Node.objects.count() == 3 and not Job.objects.exists()
