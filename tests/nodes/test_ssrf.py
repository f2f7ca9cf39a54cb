"""SSRF from the workers: nodes, BMCs and their connections stay inside the managed networks.

Findings reproduced: a Redfish address could be any URL (loopback, 169.254.169.254, the portal
itself), an SSH/IPMI address any host; JSON error bodies were copied into job errors and
`Bmc.poll_error`; an SSH test of 127.0.0.1 on several ports told open from closed.
"""
import ipaddress

import pytest

from apps.core import netpolicy
from apps.keyvault.services import create_secret
from apps.nodes import remote, services
from apps.nodes.bmc import BmcError
from apps.nodes.models import Bmc, Node
from apps.nodes.power_poll import poll_power_states

from .listeners import HttpListener, TcpListener

pytestmark = pytest.mark.django_db

LEAK = "METADATA-TOKEN-d3adb33f"


@pytest.fixture(autouse=True)
def networks(only_networks):
    return only_networks("10.0.0.0/8", "192.168.0.0/16")



def own_address():
    """One of this machine's own non-loopback addresses, or None."""
    return next((ip for ip in sorted(netpolicy.own_addresses(), key=str)
                 if not ip.is_loopback and ip.version == 4), None)


@pytest.mark.parametrize("address", ["169.254.169.254", "127.0.0.1", "localhost", "::1", "0.0.0.0",
                                     "8.8.8.8", "224.0.0.1"])
def test_node_addresses_outside_the_managed_networks_are_refused(api, root, address):
    resp = api(root).post("/api/v1/nodes/", {"name": "victim", "address": address}, format="json")
    assert resp.status_code == 400 and "address" in resp.json(), resp.content
    assert not Node.objects.exists()


def test_the_portals_own_address_is_refused_unless_listed_alone(api, root, networks):
    own = own_address()
    if own is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    networks.MANAGED_NETWORKS = [str(ipaddress.ip_network(f"{own}/8", strict=False))]
    resp = api(root).post("/api/v1/nodes/", {"name": "self", "address": str(own)}, format="json")
    assert resp.status_code == 400 and "portal itself" in resp.json()["address"][0]
    networks.MANAGED_NETWORKS.append(f"{own}/32")
    assert api(root).post("/api/v1/nodes/", {"name": "self", "address": str(own)}, format="json").status_code == 201


@pytest.mark.parametrize("driver, address", [
    ("redfish", "https://169.254.169.254/"),
    ("redfish", "https://127.0.0.1:8000/"),           # the portal's own port
    ("redfish", "https://localhost:6379/"),           # Redis
    ("redfish", "http://10.0.0.9/"),                  # plain http: the password would travel in clear
    ("redfish", "https://user:pw@10.0.0.9/"),
    ("ipmi", "127.0.0.1"),
    ("ipmi", "169.254.169.254"),
])
def test_bmc_addresses_are_refused(api, root, driver, address):
    create_secret(root, name="bmc", kind="bmc_credentials", value="u:p-Secret-1")
    node = services.create_node(root, name="n1", address="10.0.0.5")
    resp = api(root).put(f"/api/v1/nodes/{node.pk}/bmc/", {"driver": driver, "address": address,
                                                           "credential": "bmc"}, format="json")
    assert resp.status_code == 400, resp.content
    assert set(resp.json()) & {"address", "bmc_address"}
    assert not Bmc.objects.exists()


def test_a_name_that_resolves_to_loopback_later_is_refused_at_connect_time(root):
    """Registered while fine, then DNS (here: the stored name) points at loopback: the job is
    refused before any connection, whether the port is open or closed (no port scan)."""
    secret = create_secret(root, name="pw", kind="password", value="pw-1")
    node = services.create_node(root, name="n2", address="10.0.0.6", ssh_credential=secret)
    messages = []
    with TcpListener() as open_port:
        for port in (open_port.port, 1):
            Node.objects.filter(pk=node.pk).update(address="localhost", ssh_port=port)
            node.refresh_from_db()
            with pytest.raises(remote.NodeUnavailable) as refused:
                remote.run(node, ["true"], timeout=5, purpose="test")
            messages.append(str(refused.value))
        assert open_port.connections == 0
    assert messages[0] == messages[1] and "refused" in messages[0]


def test_remote_error_bodies_never_reach_job_or_poll_errors(root, networks):
    networks.MANAGED_NETWORKS = ["10.0.0.0/8", "127.0.0.1/32"]
    create_secret(root, name="bmc", kind="bmc_credentials", value="u:p-Secret-2", destinations=["127.0.0.1/32"])
    node = services.create_node(root, name="n3", address="10.0.0.7")
    body = ('{"error": {"code": "Base.1.0.GeneralError", "message": "' + LEAK + '", '
            '"@Message.ExtendedInfo": [{"Message": "' + LEAK + '"}]}}').encode()
    for status in (500, 400, 404):
        with HttpListener(status=status, body=body) as listener:
            services.set_bmc(root, node, driver="redfish", address=listener.url, credential="bmc", verify_tls=False)
            node = Node.objects.select_related("bmc__credential").get(pk=node.pk)
            with pytest.raises(BmcError) as failed:
                remote.bmc_client(node, "test").power_state()
            assert LEAK not in str(failed.value) and listener.requests
            poll_power_states()
            error = Bmc.objects.get(node=node).poll_error
            assert error and LEAK not in error


def test_ssh_to_a_non_ssh_service_does_not_echo_its_answer(root, networks):
    from apps.nodes import ssh

    with HttpListener(tls=False, status=200, body=LEAK.encode()) as listener:
        with pytest.raises(ssh.SSHError) as failed:
            ssh.run(ssh.Endpoint("127.0.0.1", listener.port, "root"), ssh.Credentials(password="x"), [], ["true"],
                    timeout=5)
    assert "HTTP/1" not in str(failed.value) and LEAK not in str(failed.value)
