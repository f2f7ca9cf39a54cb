"""Enrollment (a key vault one-time token exchanged once for a node credential), the Bearer
credential on the telemetry endpoint, revocation (API, admin, page) and the node page's section."""
from __future__ import annotations

import io
import subprocess
import sys
import time
import zipfile

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.models import AuditEvent
from apps.gpus import agent_auth
from apps.gpus.models import Gpu, NodeCredential
from apps.keyvault import onetime
from apps.keyvault.models import OneTimeToken
from tests.gpus.conftest import gpu_sample, inventory_item, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def node(root):
    from apps.nodes import services as nodes

    return nodes.create_node(root, name="agent-node", address="10.0.0.60")


def enroll(token, **extra):
    return APIClient().post("/api/v1/agent/enroll/", {"token": token, "timestamp": int(time.time()), **extra},
                            format="json")


def push(credential, body):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {credential}")
    return client.post("/api/v1/telemetry/", body, format="json")


@pytest.fixture
def credential(root, node):
    _row, token = onetime.issue_token(root, agent_auth.PURPOSE, node.name)
    response = enroll(token, hostname="agent-node.example")
    assert response.status_code == 200, response.json()
    return response.json()["credential"]


def test_enrollment_token_is_exchanged_once_for_a_hashed_node_credential(root, node):
    row, token = onetime.issue_token(root, agent_auth.PURPOSE, node.name)
    response = enroll(token, hostname="agent-node.example")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["node"] == {"id": node.pk, "name": "agent-node"} and body["telemetry_path"] == "/api/v1/telemetry/"
    credential = body["credential"]
    assert credential.startswith(f"anc1.{body['key_id']}.")
    stored = NodeCredential.objects.get(key_id=body["key_id"])
    assert stored.node == node and stored.hostname == "agent-node.example" and stored.created_by == root
    assert stored.secret_hash == agent_auth.credential_hash(credential) and credential not in stored.secret_hash
    assert OneTimeToken.objects.get(pk=row.pk).consumed_at is not None
    assert AuditEvent.objects.filter(action="gpus.agent.enroll").count() == 1
    # Exactly once: the same token again is refused, and no second credential appears.
    again = enroll(token)
    assert again.status_code == 409 and again.json()["code"] == "replayed"
    assert NodeCredential.objects.filter(node=node).count() == 1


def test_other_tokens_are_refused_unused(root, node):
    from apps.keyvault import services as vault

    vault.create_secret(root, name="not-for-agents", value="v")
    row, token = onetime.issue_token(root, "secret", "not-for-agents")
    response = enroll(token)
    assert response.status_code == 400 and "token" in response.json()
    assert OneTimeToken.objects.get(pk=row.pk).consumed_at is None
    forged = enroll(token[:-4] + "AAAA")
    assert forged.status_code == 403 and forged.json()["code"] == "forged"


def test_issuing_needs_the_permission_and_change_on_the_node(node, make_user):
    from apps.core.errors import Forbidden, InvalidInput

    reader = make_user("reader", "nodes.view_node", "gpus.view_nodecredential", "rbac.unrestricted")
    with pytest.raises(Forbidden):
        onetime.issue_token(reader, agent_auth.PURPOSE, node.name)
    viewer = make_user("viewer", "gpus.add_nodecredential", "nodes.view_node", "rbac.unrestricted")
    with pytest.raises(Forbidden, match="change"):
        onetime.issue_token(viewer, agent_auth.PURPOSE, node.name)
    operator = make_user("operator", "gpus.add_nodecredential", "nodes.view_node", "nodes.change_node",
                         "rbac.unrestricted")
    with pytest.raises(InvalidInput):
        onetime.issue_token(operator, agent_auth.PURPOSE, "no-such-node")
    row, _token = agent_auth.issue_enrollment_token(operator, node)
    assert row.subject == node.name and row.subject_key == str(node.pk)


def test_credential_pushes_for_its_node_then_revocation_gives_401(root, node, credential):
    now = timezone.now()
    body = record(inventory=[inventory_item(0), inventory_item(1)], gpu_samples=[gpu_sample("GPU-test-0", now)])
    response = push(credential, body)
    assert response.status_code == 201, response.json()
    assert response.json()["node"] == node.pk
    assert set(Gpu.objects.filter(node=node).values_list("uuid", flat=True)) == {"GPU-test-0", "GPU-test-1"}
    stored = NodeCredential.objects.get()
    assert stored.last_used_at is not None and stored.last_used_ip == "127.0.0.1"

    client = APIClient()
    client.force_authenticate(root)
    revoked = client.post(f"/api/v1/agent/credentials/{stored.pk}/revoke/", {"reason": "node retired"}, format="json")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert revoked.json()["revoked_by"] == root.username
    assert AuditEvent.objects.filter(action="gpus.agent.revoke").count() == 1
    refused = push(credential, record(gpu_samples=[gpu_sample("GPU-test-0", timezone.now())]))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    # Revoking twice is a conflict, and writes no second entry.
    assert client.post(f"/api/v1/agent/credentials/{stored.pk}/revoke/", {}, format="json").status_code == 409
    assert AuditEvent.objects.filter(action="gpus.agent.revoke").count() == 1


@pytest.mark.parametrize("header", ["Bearer anc1.nope.nope", "Bearer garbage", "Bearer a b"])
def test_bad_bearer_credentials_are_401(node, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.post("/api/v1/telemetry/", record(), format="json").status_code == 401


def test_credentials_are_listed_and_revoked_only_within_reach(root, node, credential, make_user):
    stored = NodeCredential.objects.get()
    client = APIClient()
    client.force_authenticate(root)
    listed = client.get("/api/v1/agent/credentials/", {"node": node.pk}).json()
    assert [c["key_id"] for c in listed["results"]] == [stored.key_id]
    assert "secret_hash" not in listed["results"][0]
    outsider = make_user("outsider", "gpus.view_nodecredential", "gpus.change_nodecredential")
    other = APIClient()
    other.force_authenticate(outsider)
    assert other.get("/api/v1/agent/credentials/").json()["results"] == []
    assert other.post(f"/api/v1/agent/credentials/{stored.pk}/revoke/", {}, format="json").status_code == 404
    assert NodeCredential.objects.get().revoked_at is None


def test_admin_action_revokes(client, root, node, credential):
    stored = NodeCredential.objects.get()
    client.force_login(root)
    response = client.post("/admin/gpus/nodecredential/",
                           {"action": "revoke_credentials", "_selected_action": [stored.pk]})
    assert response.status_code == 302
    assert NodeCredential.objects.get().revoked_at is not None
    assert push(credential, record()).status_code == 401


def test_node_page_shows_install_and_credentials_and_revoke_page_asks_first(client, root, node, credential):
    stored = NodeCredential.objects.get()
    client.force_login(root)
    page = client.get(f"/nodes/{node.pk}/").content.decode()
    assert 'id="node-agent"' in page  # templates/nodes/node_detail.html includes gpus/_agent_install.html
    assert "python3 /var/lib/aimatrix-agent/agent.pyz --url http://testserver" in page
    assert f"purpose=node-enrollment&amp;subject={node.name}" in page and stored.key_id in page
    confirm = client.get(f"/agent/credentials/{stored.pk}/revoke/")
    assert confirm.status_code == 200 and b"Revoke" in confirm.content
    assert NodeCredential.objects.get().revoked_at is None  # asking revokes nothing
    done = client.post(f"/agent/credentials/{stored.pk}/revoke/", {"confirm": "yes"})
    assert done.status_code == 302 and NodeCredential.objects.get().revoked_at is not None


def test_the_agent_download_runs(client, tmp_path):
    response = client.get("/agent/aimatrix-agent.pyz")
    assert response.status_code == 200
    data = b"".join(response.streaming_content) if response.streaming else response.content
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "__main__.py" in names and "aimatrix_agent/nvsmi.py" in names
    archive = tmp_path / "agent.pyz"
    archive.write_bytes(data)
    result = subprocess.run([sys.executable, str(archive), "--help"], capture_output=True, text=True, timeout=30,
                            cwd=tmp_path)
    assert result.returncode == 0 and "--token-file" in result.stdout
