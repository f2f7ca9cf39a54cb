"""Secrets go only where they may: binding needs `use`, and a destination-bound secret is never
sent outside its destinations, at bind time or at connect time.

The attacker of the findings is an `sre` (documented "no reveal"): refused on reveal, they
pointed a node's BMC at an HTTP listener on 127.0.0.1 and received the BMC user and password.
Each test runs the attack against a real listener and asserts that nothing reached it.
"""
import subprocess

import pytest
from django.contrib.auth.models import Group

from apps.core.errors import Forbidden, InvalidInput
from apps.keyvault.models import SecretAccess
from apps.keyvault.services import create_secret, update_secret
from apps.nodes import remote, services
from apps.nodes.bmc import BmcError

from .listeners import HttpListener, TcpListener

pytestmark = pytest.mark.django_db

BMC_VALUE = "admin:hunter2-BMC-Pa55"


@pytest.fixture(autouse=True)
def networks(only_networks):
    return only_networks("10.0.0.0/8")



@pytest.fixture
def sre(make_user):
    user = make_user("sre-user")
    user.groups.add(Group.objects.get(name="sre"))
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def bmc_node(root):
    create_secret(root, name="bmc-a", kind="bmc_credentials", value=BMC_VALUE, destinations=["10.20.0.0/24"])
    node = services.create_node(root, name="n1", address="10.20.0.5")
    services.set_bmc(root, node, driver="redfish", address="https://10.20.0.9", credential="bmc-a")
    return node


def test_sre_cannot_send_a_bmc_credential_to_a_listener(api, sre, bmc_node, networks):
    client = api(sre)
    assert client.post(f"/api/v1/secrets/{bmc_node.bmc.credential.pk}/reveal/").status_code == 403
    with HttpListener(tls=False) as plain, HttpListener() as tls:
        for url in (plain.url, tls.url, f"http://127.0.0.1:{tls.port}"):
            resp = client.put(f"/api/v1/nodes/{bmc_node.pk}/bmc/",
                              {"driver": "redfish", "address": url, "credential": "bmc-a"}, format="json")
            assert resp.status_code == 400, (url, resp.content)
        # Even where loopback is a managed network (the lab), the secret's destinations refuse it.
        networks.MANAGED_NETWORKS = ["10.0.0.0/8", "127.0.0.1/32"]
        resp = client.put(f"/api/v1/nodes/{bmc_node.pk}/bmc/",
                          {"driver": "redfish", "address": tls.url, "credential": "bmc-a"}, format="json")
        assert resp.status_code == 400
        assert "bmc-a" in resp.json()["bmc_credential"][0] and "127.0.0.1" in resp.json()["bmc_credential"][0]
        bmc_node.bmc.refresh_from_db()
        assert bmc_node.bmc.address == "https://10.20.0.9"
        assert plain.requests == tls.requests == []


def test_binding_needs_use_on_the_secret(root, make_user, bmc_node):
    operator = make_user("no-use", "nodes.manage_node", "nodes.change_node", "nodes.view_node",
                         "keyvault.view_secret", "rbac.unrestricted")
    with pytest.raises(Forbidden, match="use_secret"):
        services.set_bmc(operator, bmc_node, driver="redfish", address="https://10.20.0.10", credential="bmc-a")
    create_secret(root, name="ssh-pw", kind="password", value="pw-SSH-1", destinations=["10.20.0.0/24"])
    node = services.create_node(root, name="n2", address="10.20.0.6")
    from apps.keyvault.models import Secret

    with pytest.raises(Forbidden):
        services.update_node(operator, node, ssh_credential=Secret.objects.get(name="ssh-pw"))


def test_moving_a_node_with_a_bound_password_needs_use_and_stays_in_destinations(root, sre, make_user):
    secret = create_secret(root, name="ssh-pw", kind="password", value="pw-SSH-1", destinations=["10.20.0.0/24"])
    node = services.create_node(root, name="n3", address="10.20.0.7", ssh_credential=secret)
    operator = make_user("no-use", "nodes.change_node", "nodes.view_node", "keyvault.view_secret",
                         "rbac.unrestricted")
    for change in ({"address": "10.20.0.8"}, {"ssh_port": 2222}, {"ssh_user": "other"}):
        with pytest.raises(Forbidden):
            services.update_node(operator, node, **change)
    services.update_node(operator, node, labels=["fine"])  # nothing about where the secret goes
    with pytest.raises(InvalidInput) as refused:
        services.update_node(sre, node, address="10.30.0.1")
    assert "ssh-pw" in str(refused.value.errors) and "10.30.0.1" in str(refused.value.errors)
    with pytest.raises(InvalidInput) as refused:
        services.update_node(sre, node, address="127.0.0.1")
    assert "managed networks" in str(refused.value.errors["address"])
    services.update_node(sre, node, address="10.20.0.8")  # inside: allowed
    node.refresh_from_db()
    assert node.address == "10.20.0.8"


def test_connect_time_check_on_the_resolved_address(root, networks, settings):
    """Bound while allowed, then narrowed: the next use is refused before anything is sent."""
    networks.MANAGED_NETWORKS = ["10.0.0.0/8", "127.0.0.1/32"]
    secret = create_secret(root, name="bmc-lab", kind="bmc_credentials", value=BMC_VALUE,
                           destinations=["127.0.0.1/32"])
    node = services.create_node(root, name="n4", address="10.20.0.11")
    with HttpListener(status=401) as listener:
        services.set_bmc(root, node, driver="redfish", address=listener.url, credential="bmc-lab",
                         verify_tls=False)
        node.refresh_from_db()
        with pytest.raises(BmcError):  # allowed: the client does reach the listener
            remote.bmc_client(node, "test", actor=root).power_state()
        assert listener.requests
        seen = len(listener.requests)
        update_secret(root, secret, destinations=["10.20.0.0/24"])
        with pytest.raises(remote.NodeUnavailable, match="bmc-lab.*outside its destinations"):
            remote.bmc_client(node, "test", actor=root)
        update_secret(root, secret, destinations=["127.0.0.1/32"])
        networks.MANAGED_NETWORKS = ["10.0.0.0/8"]
        with pytest.raises(remote.NodeUnavailable, match="outside the managed networks|special"):
            remote.bmc_client(node, "test", actor=root)
        assert len(listener.requests) == seen


def test_ssh_connect_time_check_sends_nothing(root, networks):
    networks.MANAGED_NETWORKS = ["10.0.0.0/8", "127.0.0.1/32"]
    secret = create_secret(root, name="ssh-lab", kind="password", value="pw-SSH-2", destinations=["127.0.0.1/32"])
    with TcpListener() as listener:
        node = services.create_node(root, name="n5", address="127.0.0.1", ssh_port=listener.port,
                                    ssh_credential=secret)
        networks.MANAGED_NETWORKS = ["10.0.0.0/8"]
        with pytest.raises(remote.NodeUnavailable, match="refused"):
            remote.run(node, ["true"], timeout=5, purpose="test")
        assert listener.connections == 0
    assert not SecretAccess.objects.exists()  # the value was not even decrypted


def test_bmc_credentials_without_a_user_never_reach_ipmitool(root, monkeypatch, networks):
    with pytest.raises(InvalidInput, match="username:password"):
        create_secret(root, name="bad", kind="bmc_credentials", value="just-a-password")
    create_secret(root, name="opaque", kind="other", value="just-a-password", destinations=["10.20.0.0/24"])
    node = services.create_node(root, name="n6", address="10.20.0.12")
    services.set_bmc(root, node, driver="ipmi", address="10.20.0.13", credential="opaque")
    node.refresh_from_db()
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    with pytest.raises(remote.NodeUnavailable, match="username:password"):
        remote.bmc_client(node, "test").power_state()
    assert calls == []


@pytest.mark.django_db(transaction=True)  # the job runs its fan-out threads on their own connections
def test_job_reads_are_logged_as_the_requester(root, monkeypatch):
    from apps.jobs import services as jobs
    from apps.jobs.execution import execute

    monkeypatch.setattr(jobs, "enqueue", lambda job: None)
    secret = create_secret(root, name="ssh-pw", kind="password", value="pw-SSH-3", destinations=["10.20.0.0/24"])
    node = services.create_node(root, name="n7", address="10.20.0.14", ssh_credential=secret)
    monkeypatch.setattr("apps.nodes.ssh.run", lambda *a, **k: (_ for _ in ()).throw(
        __import__("apps.nodes.ssh", fromlist=["ConnectFailed"]).ConnectFailed("unreachable in this test")))
    job = jobs.start_job(root, "nodes.test_connection", {"nodes": ["n7"]})
    assert job.params == {"nodes": [node.pk]}  # the primary key, not the name
    services.update_node(root, node, name="n7-renamed")
    execute(job.pk)
    access = SecretAccess.objects.get(secret=secret)
    assert access.actor == root and access.actor_repr == "root" and "10.20.0.14" in access.purpose


def test_destinations_through_the_api(api, root, settings):
    client = api(root)
    resp = client.post("/api/v1/secrets/", {"name": "d1", "value": "v-1", "destinations": ["10.9.0.0/16", "bmc01.example.org"]},
                       format="json")
    assert resp.status_code == 201 and resp.json()["destinations"] == ["10.9.0.0/16", "bmc01.example.org"]
    default = client.post("/api/v1/secrets/", {"name": "d2", "value": "v-2"}, format="json").json()
    assert default["destinations"] == list(settings.SECRET_DEFAULT_DESTINATIONS)
    bad = client.post("/api/v1/secrets/", {"name": "d3", "value": "v", "destinations": ["10.0.0.0/33 ;rm"]},
                      format="json")
    assert bad.status_code == 400 and "destinations" in bad.json()
    # A host-name destination matches the name a node is registered with.
    secret = client.get(f"/api/v1/secrets/{resp.json()['id']}/").json()
    assert secret["destinations"][1] == "bmc01.example.org"
