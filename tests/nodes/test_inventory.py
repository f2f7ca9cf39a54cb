"""Node inventory through the API and pages: validation, import, host keys, visibility."""
import json

import pytest
from django.contrib.auth.models import Group

from apps.core.models import AuditEvent
from apps.keyvault.services import create_secret
from apps.nodes import services
from apps.nodes.models import HostKey, Node
from apps.nodes.ssh import fingerprint as ssh_fingerprint
from apps.rbac import services as rbac

pytestmark = pytest.mark.django_db

ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIHfHn2lVqXUeyTZ0mQ2fYx8m9yMDQ3UeOQ5UjOWeF6k1"


@pytest.fixture
def ssh_key(admin):
    return create_secret(admin, name="lab-ssh-key", kind="ssh_private_key", value="-----BEGIN KEY-----x")


def test_create_node_with_supplied_host_key(admin, api, ssh_key):
    resp = api(admin).post("/api/v1/nodes/", {
        "name": "gpu-01", "address": "10.0.0.5", "ssh_user": "ops", "ssh_credential": "lab-ssh-key",
        "labels": ["a100", "rack-3"], "known_host_keys": [f"ssh-ed25519 {ED25519} comment"]}, format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["ssh_credential"] == "lab-ssh-key" and body["state"] == "new"
    assert body["host_keys"][0]["state"] == "trusted" and body["host_keys"][0]["fingerprint"].startswith("SHA256:")
    assert "BEGIN KEY" not in resp.content.decode()
    assert AuditEvent.objects.filter(action="node.create", object_id=str(body["id"])).exists()


@pytest.mark.parametrize("name", ["node;rm -rf /", "$(reboot)", "`id`", "a\nb", "-oProxyCommand=x", "", "a" * 64,
                                  "node 1", "node/1"])
def test_malicious_node_names_are_rejected(admin, api, name):
    resp = api(admin).post("/api/v1/nodes/", {"name": name, "address": "10.0.0.5"}, format="json")
    assert resp.status_code == 400 and "name" in resp.json()


@pytest.mark.parametrize("field, value", [("address", "10.0.0.5; id"), ("address", "-oX"), ("ssh_user", "root;id"),
                                          ("ssh_user", "-l"), ("labels", ["ok", "bad label"]), ("ssh_port", 0)])
def test_bad_fields_are_rejected_naming_the_field(admin, api, field, value):
    data = {"name": "n1", "address": "10.0.0.5", field: value}
    resp = api(admin).post("/api/v1/nodes/", data, format="json")
    assert resp.status_code == 400 and field in resp.json(), resp.content


def test_import_one_bad_row_imports_nothing(admin, api, ssh_key):
    csv_text = ("name,address,ssh_port,ssh_credential,labels\n"
                "n1,10.0.0.1,22,lab-ssh-key,gpu;a100\n"
                "n2,not an address!,22,lab-ssh-key,\n"
                "n3,10.0.0.3,22,missing-secret,\n")
    resp = api(admin).post("/api/v1/nodes/import/", {"format": "csv", "content": csv_text}, format="json")
    assert resp.status_code == 400
    rows = resp.json()["rows"]
    assert [(r["row"], sorted(r["errors"])) for r in rows] == [(2, ["address"]), (3, ["ssh_credential"])]
    assert not Node.objects.exists()


def test_import_yaml_and_json(admin, api, ssh_key):
    yaml_text = "nodes:\n  - {name: y1, address: 10.0.0.1, labels: [gpu]}\n  - {name: y2, address: host-2.lab}\n"
    resp = api(admin).post("/api/v1/nodes/import/", {"format": "yaml", "content": yaml_text}, format="json")
    assert resp.status_code == 201, resp.content
    rows = [{"name": "j1", "address": "10.0.0.9", "ssh_credential": "lab-ssh-key",
             "bmc_driver": "ipmi", "bmc_address": "10.0.1.9", "bmc_port": 623, "bmc_credential": "lab-ssh-key"}]
    resp = api(admin).post("/api/v1/nodes/import/", {"format": "json", "content": json.dumps(rows)}, format="json")
    assert resp.status_code == 201, resp.content
    assert Node.objects.get(name="j1").bmc.driver == "ipmi"
    dup = api(admin).post("/api/v1/nodes/import/", {"format": "json", "content": json.dumps(rows)}, format="json")
    assert dup.status_code == 400 and dup.json()["rows"][0]["errors"]["name"]
    # One audit entry per imported node (its node.create), none for the file as a whole.
    assert AuditEvent.objects.filter(action="node.create").count() == 3
    assert not AuditEvent.objects.filter(action="node.import").exists()


def test_import_page_reports_row_and_field(admin, client):
    client.force_login(admin)
    resp = client.post("/nodes/import/", {"format": "csv", "content": "name,address\nok1,10.0.0.1\nbad;x,10.0.0.2\n"})
    assert resp.status_code == 400
    html = resp.content.decode()
    assert "Row 2" in html and "<strong>name</strong>" in html and not Node.objects.exists()


def test_pending_host_key_approval_replaces_old_key(admin, api):
    node = services.create_node(admin, name="n1", address="10.0.0.1", host_keys=[("ssh-ed25519", ED25519)])
    other = "AAAAC3NzaC1lZDI1NTE5AAAAIBmBgbGVYdL3z6pRE1bCw2Zx0R5zWl2m7OY8nZ8g2Q0F"
    pending = services.record_offered_key(node, "ssh-ed25519", other, ssh_fingerprint(other), mismatch=True)
    assert pending.state == "pending" and node.events.filter(kind="hostkey.changed").exists()
    resp = api(admin).post(f"/api/v1/nodes/{node.pk}/host-keys/{pending.pk}/approve/")
    assert resp.status_code == 200
    states = dict(HostKey.objects.filter(node=node).values_list("public_key", "state"))
    assert states == {ED25519: "revoked", other: "trusted"}
    assert AuditEvent.objects.filter(action="node.hostkey_trusted").exists()
    # The answer shows the keys as they are now (it showed the states from before the decision).
    answered = {k["fingerprint"]: k["state"] for k in resp.json()["host_keys"]}
    assert answered == {ssh_fingerprint(ED25519): "revoked", ssh_fingerprint(other): "trusted"}
    resp = api(admin).post(f"/api/v1/nodes/{node.pk}/host-keys/{pending.pk}/revoke/")
    assert {k["state"] for k in resp.json()["host_keys"]} == {"revoked"}


def test_nodes_of_other_projects_are_hidden(make_user, api, admin):
    dev = make_user("dev")
    dev.groups.add(Group.objects.get(name="engineer"))
    team = rbac.create_project(None, "team", owner=dev)
    mine = services.create_node(admin, name="mine", address="10.0.0.1", project=team)
    theirs = services.create_node(admin, name="theirs", address="10.0.0.2")
    client = api(dev)
    assert [n["name"] for n in client.get("/api/v1/nodes/").json()["results"]] == ["mine"]
    assert client.get(f"/api/v1/nodes/{theirs.pk}/").status_code == 404
    assert client.get(f"/api/v1/nodes/{mine.pk}/").status_code == 200
    # Engineers read nodes; they may not change them or start jobs on them.
    assert client.patch(f"/api/v1/nodes/{mine.pk}/", {"labels": ["x"]}, format="json").status_code == 403
    assert client.post(f"/api/v1/nodes/{mine.pk}/test-connection/").status_code == 403
    assert client.post(f"/api/v1/nodes/{mine.pk}/power/", {"action": "off"}, format="json").status_code == 403


def test_node_pages(admin, client):
    node = services.create_node(admin, name="n1", address="10.0.0.1", labels=["gpu"])
    client.force_login(admin)
    assert ">n1<" in client.get("/nodes/?label=gpu").content.decode()
    assert ">n1<" not in client.get("/nodes/?label=cpu").content.decode()
    html = client.get(f"/nodes/{node.pk}/").content.decode()
    assert "No host key recorded yet" in html and 'id="test-connection"' in html


def test_admin_import_and_actions(admin, client):
    client.force_login(admin)
    assert 'href="/admin/nodes/node/import/"' in client.get("/admin/nodes/node/").content.decode()
    rows = {"format": "yaml", "content": "- {name: a1, address: 10.0.0.1}\n"}
    preview = client.post("/admin/nodes/node/import/", rows)  # the same page: a preview first
    assert preview.status_code == 200 and ">Import 1 node</button>" in preview.content.decode()
    assert not Node.objects.exists()
    resp = client.post("/admin/nodes/node/import/", {**rows, "step": "commit"})
    assert resp.status_code == 302 and Node.objects.filter(name="a1").exists()
    resp = client.post("/admin/nodes/node/", {"action": "test_connection",
                                              "_selected_action": [Node.objects.get(name="a1").pk]})
    assert resp.status_code == 302 and resp["Location"].startswith("/jobs/")
