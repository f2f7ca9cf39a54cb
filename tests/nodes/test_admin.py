"""The node admin obeys the permission layer and saves through the node services (finding 3 of
issue 7): per-object checks, project and credential choices limited to what the user may use,
the BMC inline through services.set_bmc, bulk delete through services.delete_node."""
import pytest
from cryptography.fernet import Fernet

from apps.core.models import AuditEvent
from apps.keyvault.services import create_secret
from apps.nodes import services
from apps.nodes.models import Bmc, Node
from apps.rbac import services as rbac
from apps.rbac.models import ProjectRole
from tests.admin_forms import admin_form

pytestmark = pytest.mark.django_db

NODE_PERMS = ["nodes.view_node", "nodes.add_node", "nodes.change_node", "nodes.delete_node", "nodes.view_bmc",
              "nodes.add_bmc", "nodes.change_bmc", "nodes.view_hostkey", "nodes.manage_node",
              "keyvault.view_secret", "keyvault.use_secret"]


@pytest.fixture
def world(settings, make_user):
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    root = make_user("root", superuser=True)
    team_a, team_b = rbac.create_project(None, "team-a"), rbac.create_project(None, "team-b")
    users = {}
    for role in (ProjectRole.VIEWER, ProjectRole.MEMBER, ProjectRole.OWNER):
        users[role] = make_user(f"staff-{role}", *NODE_PERMS, staff=True)
        rbac.set_member(root, team_a, users[role], role)
    secrets = {name: create_secret(root, name=name, kind="bmc_credentials", value="admin:pw-1", project=project)
               for name, project in [("cred-a", team_a), ("cred-b", team_b), ("cred-ops", None)]}
    node = services.create_node(root, name="a1", address="10.99.0.11", project=team_a)
    other = services.create_node(root, name="b1", address="10.99.0.12", project=team_b)
    AuditEvent.objects.all().delete()
    return {"root": root, "a": team_a, "b": team_b, "secrets": secrets, "node": node, "other": other, **users}


def _audit():
    return AuditEvent.objects.exclude(action__startswith="auth.")  # logins of the test clients


def _as(client, user):
    client.force_login(user)
    return client


def test_a_project_viewer_cannot_change_or_delete_a_node(world, client):
    node = world["node"]
    client = _as(client, world[ProjectRole.VIEWER])
    url = f"/admin/nodes/node/{node.pk}/change/"
    data, _ = admin_form(client, url, address="10.99.0.99")  # viewers see the (read-only) page
    assert client.post(url, data).status_code == 403
    assert client.post(f"/admin/nodes/node/{node.pk}/delete/", {"post": "yes"}).status_code == 403
    node.refresh_from_db()
    assert node.address == "10.99.0.11" and not _audit().exists()


def test_nodes_of_other_projects_are_out_of_reach(world, client):
    client = _as(client, world[ProjectRole.MEMBER])
    other = world["other"]
    listing = client.get("/admin/nodes/node/").content.decode()
    assert "a1" in listing and "b1" not in listing
    resp = client.post(f"/admin/nodes/node/{other.pk}/change/", {"name": "b1", "address": "10.99.0.50"})
    assert resp.status_code == 302 and resp["Location"] == "/admin/"  # "does not exist": not found
    other.refresh_from_db()
    assert other.address == "10.99.0.12"


def test_project_and_credential_choices_are_what_the_user_may_use(world, client):
    client = _as(client, world[ProjectRole.MEMBER])
    url = f"/admin/nodes/node/{world['node'].pk}/change/"
    data, choices = admin_form(client, url)
    secrets, a = world["secrets"], world["a"]
    assert set(choices["ssh_credential"]) == {"", str(secrets["cred-a"].pk)}
    assert set(choices["project"]) == {"", str(a.pk)}
    # Posting a choice that was not offered is a form error, not a save.
    for field, value in [("ssh_credential", secrets["cred-b"].pk), ("project", world["b"].pk)]:
        resp = client.post(url, {**data, field: str(value)})
        assert resp.status_code == 200 and "Select a valid choice" in resp.content.decode()
    node = Node.objects.get(pk=world["node"].pk)
    assert node.ssh_credential is None and node.project == a and not _audit().exists()


def test_admin_saves_go_through_the_services_with_one_audit_entry_each(world, client):
    client = _as(client, world["root"])
    data, _ = admin_form(client, "/admin/nodes/node/add/", name="n-new", address="10.99.0.20",
                         project=str(world["a"].pk))
    resp = client.post("/admin/nodes/node/add/", data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    node = Node.objects.get(name="n-new")
    url = f"/admin/nodes/node/{node.pk}/change/"
    data, _ = admin_form(client, url, ssh_port="2222")
    assert client.post(url, data).status_code == 302
    assert list(_audit().order_by("id").values_list("action", "object_id")) == [
        ("node.create", str(node.pk)), ("node.update", str(node.pk))]
    # The service's own validation answers with its message and leaves nothing behind.
    data, _ = admin_form(client, url, address="127.0.0.1")
    resp = client.post(url, data)
    assert resp.status_code == 400 and "address" in resp.content.decode()
    node.refresh_from_db()
    assert node.address == "10.99.0.20" and _audit().count() == 2


def test_the_bmc_inline_goes_through_set_bmc(world, client):
    node, secret = world["node"], world["secrets"]["cred-a"]
    url = f"/admin/nodes/node/{node.pk}/change/"
    bmc_fields = {"bmc-TOTAL_FORMS": "1", "bmc-0-driver": "ipmi", "bmc-0-address": "10.99.1.11",
                  "bmc-0-port": "623", "bmc-0-credential": str(secret.pk), "bmc-0-system_id": "",
                  "bmc-0-verify_tls": "on", "bmc-0-node": str(node.pk)}
    # A project member may change the node but not manage it: the inline is read-only for them.
    member = _as(client, world[ProjectRole.MEMBER])
    data, choices = admin_form(member, url)
    assert "bmc-__prefix__-credential" not in choices
    member.post(url, {**data, **bmc_fields})
    assert not Bmc.objects.exists() and not _audit().exists()

    owner = _as(client, world[ProjectRole.OWNER])  # manages the project's nodes
    data, choices = admin_form(owner, url)
    assert set(choices["bmc-__prefix__-credential"]) == {"", str(secret.pk)}  # not cred-b, not cred-ops
    resp = owner.post(url, {**data, **bmc_fields, "bmc-0-credential": str(world["secrets"]["cred-ops"].pk)})
    assert resp.status_code == 200 and "Select a valid choice" in resp.content.decode()
    resp = owner.post(url, {**data, **bmc_fields})
    assert resp.status_code == 302, resp.content.decode()[:3000]
    bmc = Bmc.objects.get(node=node)
    assert (bmc.driver, bmc.address, bmc.credential) == ("ipmi", "10.99.1.11", secret)
    # One entry, the service's; the unchanged node form writes none.
    assert list(_audit().values_list("action", "actor__username")) == [("node.bmc_set", "staff-owner")]


def test_bulk_delete_goes_through_the_service(world, client):
    node, other = world["node"], world["other"]
    viewer = _as(client, world[ProjectRole.VIEWER])
    resp = viewer.post("/admin/nodes/node/", {"action": "delete_selected", "post": "yes",
                                              "_selected_action": [str(node.pk)]})
    assert resp.status_code == 403 and Node.objects.filter(pk=node.pk).exists()

    root = _as(client, world["root"])
    resp = root.post("/admin/nodes/node/", {"action": "delete_selected", "post": "yes",
                                            "_selected_action": [str(node.pk), str(other.pk)]})
    assert resp.status_code == 302
    assert not Node.objects.filter(pk__in=[node.pk, other.pk]).exists()
    assert sorted(_audit().values_list("action", "object_id")) == sorted(
        [("node.delete", str(node.pk)), ("node.delete", str(other.pk))])
