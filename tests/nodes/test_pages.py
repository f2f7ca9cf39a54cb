"""Node add/edit, BMC and delete pages: through the services (one audit entry per change), errors
under the field they concern, 403 for who sees the node but may not act, 404 for who does not."""
import re

import pytest
from django.urls import reverse

from apps.core.models import AuditEvent
from apps.keyvault.services import create_secret
from apps.nodes import services
from apps.nodes.models import Bmc, HostKey, Node, NodeEvent
from apps.rbac import services as rbac

pytestmark = pytest.mark.django_db

NODE = {"name": "gpu-01", "address": "10.0.0.5", "ssh_port": "22", "ssh_user": "root"}


@pytest.fixture(autouse=True)
def networks(only_networks):
    return only_networks("10.0.0.0/8")


@pytest.fixture
def ssh_key(root):
    return create_secret(root, name="ssh-a", kind="ssh_private_key", value="KEY", destinations=["10.0.0.0/16"])


@pytest.fixture
def node(root):
    return services.create_node(root, name="gpu-01", address="10.0.0.5", labels=["gpu", "a100"])


@pytest.fixture
def viewer(make_user):
    """Sees every node (an operator's reach) but may change none."""
    return make_user("viewer", "nodes.view_node", "rbac.unrestricted")


def audits(action):
    return AuditEvent.objects.filter(action=action).count()


def error_under(html: str, field: str) -> str:
    """The text of the first error the kit renders right under `field` ('' when none)."""
    match = re.search(rf'id="id_{field}_error_1">([^<]*)<', html)
    return match.group(1) if match else ""


def test_add_node_through_the_form(client, root, ssh_key, node):
    client.force_login(root)
    page = client.get("/nodes/add/").content.decode()
    assert 'list="node-labels-in-use"' in page and '<option value="a100">' in page  # labels in use suggested
    resp = client.post("/nodes/add/", {**NODE, "name": "gpu-02", "address": "10.0.0.6", "ssh_credential": ssh_key.pk,
                                       "labels": "gpu, h100 #rack:3 gpu"})
    created = Node.objects.get(name="gpu-02")
    assert resp.status_code == 302 and resp["Location"] == f"/nodes/{created.pk}/"
    assert created.labels == ["gpu", "h100", "rack:3"] and created.ssh_credential == ssh_key
    assert audits("node.create") == 2  # the fixture's node and this one: one each
    detail = client.get(resp["Location"]).content.decode()
    assert "#h100" in detail and 'id="node-edit"' in detail and 'id="node-delete"' in detail


@pytest.mark.parametrize("field, value, says", [
    ("address", "not an address!", "IP address or a DNS name"),
    ("address", "192.168.1.5", "192.168.1.5"),  # outside the managed networks
    ("labels", "gpu bad|label", "Labels are a list of short words"),
    ("name", "-dash-first", "starting with a letter or digit"),
])
def test_field_errors_are_shown_under_the_field(client, root, field, value, says):
    client.force_login(root)
    resp = client.post("/nodes/add/", {**NODE, field: value})
    html = resp.content.decode()
    assert resp.status_code == 400 and says in error_under(html, field), html
    assert f"{{&#x27;{field}" not in html  # never a dict
    assert not Node.objects.exists() and not AuditEvent.objects.filter(action__startswith="node.").exists()


def test_secret_outside_its_destinations_is_refused_under_the_credential(client, root, ssh_key):
    client.force_login(root)
    resp = client.post("/nodes/add/", {**NODE, "address": "10.9.0.5", "ssh_credential": ssh_key.pk})
    assert resp.status_code == 400 and "ssh-a" in error_under(resp.content.decode(), "ssh_credential")
    assert not Node.objects.exists()


def test_credential_choices_are_the_secrets_the_user_may_use(client, root, make_user, ssh_key):
    create_secret(root, name="theirs", kind="ssh_private_key", value="K", project=rbac.create_project(root, "p1"))
    owner = make_user("owner", "nodes.add_node", "nodes.view_node", "keyvault.view_secret", "keyvault.use_secret")
    mine = rbac.create_project(root, "mine", owner=owner)
    create_secret(root, name="ours", kind="ssh_private_key", value="K", project=mine)
    client.force_login(owner)
    html = client.get("/nodes/add/").content.decode()
    assert ">ours</option>" in html and ">theirs</option>" not in html and ">ssh-a</option>" not in html
    # Outside operators' reach a node needs a project: asked for by the form, not refused later.
    resp = client.post("/nodes/add/", NODE)
    assert resp.status_code == 400 and error_under(resp.content.decode(), "project")
    resp = client.post("/nodes/add/", {**NODE, "project": mine.pk})
    assert resp.status_code == 302 and Node.objects.get().project == mine


def test_edit_node(client, root, node):
    client.force_login(root)
    form = client.get(f"/nodes/{node.pk}/edit/").content.decode()
    assert 'value="gpu a100"' in form and "#a100" in form
    resp = client.post(f"/nodes/{node.pk}/edit/", {**NODE, "address": "10.0.0.9", "labels": "gpu"})
    node.refresh_from_db()
    assert resp.status_code == 302 and node.address == "10.0.0.9" and node.labels == ["gpu"]
    assert audits("node.update") == 1
    bad = client.post(f"/nodes/{node.pk}/edit/", {**NODE, "address": "bad address"})
    assert bad.status_code == 400 and error_under(bad.content.decode(), "address")
    node.refresh_from_db()
    assert node.address == "10.0.0.9" and audits("node.update") == 1


def test_who_may_not_gets_403_and_who_cannot_see_gets_404(client, make_user, viewer, node):
    pages = [f"/nodes/{node.pk}/edit/", f"/nodes/{node.pk}/delete/", f"/nodes/{node.pk}/bmc/",
             f"/nodes/{node.pk}/bmc/remove/"]
    client.force_login(viewer)
    assert client.get("/nodes/add/").status_code == 403
    assert client.post("/nodes/add/", NODE).status_code == 403
    for url in pages:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {**NODE, "confirm": "yes"}).status_code == 403, url
    detail = client.get(f"/nodes/{node.pk}/").content.decode()
    listing = client.get("/nodes/").content.decode()
    assert 'id="node-edit"' not in detail and 'id="node-delete"' not in detail and 'id="bmc-edit"' not in detail
    assert 'id="node-add"' not in listing and 'value="delete"' not in listing
    client.force_login(make_user("stranger"))
    for url in pages:
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"confirm": "yes"}).status_code == 404, url
    assert Node.objects.filter(pk=node.pk).exists() and audits("node.update") == 0


def test_delete_says_what_goes_then_deletes(client, root, node):
    HostKey.objects.create(node=node, key_type="ssh-ed25519", public_key="AAAA", fingerprint="SHA256:x")
    NodeEvent.objects.create(node=node, kind="power", message="on")
    create_secret(root, name="bmc-a", kind="bmc_credentials", value="u:p")
    services.set_bmc(root, node, driver="ipmi", address="10.0.1.5", credential="bmc-a")
    client.force_login(root)
    page = client.get(f"/nodes/{node.pk}/delete/").content.decode()
    assert "Delete node gpu-01?" in page and "1 host key, its BMC settings, 1 event" in page
    assert 'name="confirm" value="yes"' in page
    assert client.post(f"/nodes/{node.pk}/delete/").status_code == 200  # no confirmation: asks again
    assert Node.objects.exists()
    resp = client.post(f"/nodes/{node.pk}/delete/", {"confirm": "yes"})
    assert resp.status_code == 302 and resp["Location"] == "/nodes/"
    assert not Node.objects.exists() and not Bmc.objects.exists() and audits("node.delete") == 1


def test_bmc_form_sets_changes_and_removes(client, root, node):
    create_secret(root, name="bmc-a", kind="bmc_credentials", value="u:p", destinations=["10.0.1.0/24"])
    client.force_login(root)
    assert "Add a BMC to gpu-01" in client.get(f"/nodes/{node.pk}/bmc/").content.decode()
    bad = client.post(f"/nodes/{node.pk}/bmc/", {"bmc_driver": "redfish", "bmc_address": "http://10.0.1.5",
                                                  "bmc_credential": "bmc-a"})
    assert bad.status_code == 400 and "https://" in error_under(bad.content.decode(), "bmc_address")
    outside = client.post(f"/nodes/{node.pk}/bmc/", {"bmc_driver": "ipmi", "bmc_address": "10.0.2.5",
                                                      "bmc_credential": "bmc-a"})
    assert outside.status_code == 400 and "bmc-a" in error_under(outside.content.decode(), "bmc_credential")
    assert audits("node.bmc_set") == 0
    ok = client.post(f"/nodes/{node.pk}/bmc/", {"bmc_driver": "ipmi", "bmc_address": "10.0.1.5", "bmc_port": "624",
                                                 "bmc_credential": "bmc-a"})
    assert ok.status_code == 302 and Bmc.objects.get(node=node).port == 624 and audits("node.bmc_set") == 1
    form = client.get(f"/nodes/{node.pk}/bmc/").content.decode()
    assert "Change the BMC of gpu-01" in form and 'value="10.0.1.5"' in form and 'id="bmc-remove"' in form

    confirm = client.get(f"/nodes/{node.pk}/bmc/remove/").content.decode()
    assert "Remove the BMC of gpu-01?" in confirm and "bmc-a stays in the key vault" in confirm
    assert Bmc.objects.exists()
    resp = client.post(f"/nodes/{node.pk}/bmc/remove/", {"confirm": "yes"})
    assert resp.status_code == 302 and not Bmc.objects.exists() and audits("node.bmc_remove") == 1


def test_project_member_may_edit_but_not_delete(client, root, make_user):
    """A project member (member role) changes the project's nodes but deleting needs the owner."""
    team = rbac.create_project(root, "team")
    node = services.create_node(root, name="t1", address="10.0.0.8", project=team)
    engineer = make_user("eng", "nodes.view_node", "nodes.change_node", "nodes.delete_node", "nodes.add_node")
    rbac.add_member(root, team, engineer.username)
    client.force_login(engineer)
    assert client.get(f"/nodes/{node.pk}/edit/").status_code == 200
    resp = client.post(f"/nodes/{node.pk}/edit/", {**NODE, "name": "t1", "project": team.pk, "labels": "x"})
    assert resp.status_code == 302 and Node.objects.get().labels == ["x"]
    assert client.get(f"/nodes/{node.pk}/delete/").status_code == 403


def test_detail_page_tabs_show_the_change_log_to_who_may_read_the_audit_log(client, root, viewer, node):
    services.update_node(root, node, labels=["gpu", "rack-7"])
    client.force_login(root)
    response = client.get(reverse("nodes:detail", args=[node.pk]) + "?tab=changes")
    html = response.content.decode()
    assert response.context["active_tab"] == "changes"
    changes = html[html.index('id="pane-changes"'):html.index('id="pane-related"')]
    assert "node.create" in changes and "node.update" in changes and "rack-7" in changes
    assert client.get(reverse("nodes:detail", args=[node.pk]) + "?tab=nope").context["active_tab"] == "overview"
    client.force_login(viewer)
    html = client.get(reverse("nodes:detail", args=[node.pk])).content.decode()
    assert "The change log is shown to those who may read the audit log." in html and "node.create" not in html
