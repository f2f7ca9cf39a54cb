"""The lab itself: real sshd hosts in network namespaces, sushy-emulator and ipmi_sim.

One lab for the session, brought up by devtools.lab and torn down at the end. It gets its own
directory (under var/test/labs, removed when every test passed), bridge, subnet and ports, so
several test sessions can share the machine; TEST_LAB_DIR, TEST_LAB_BRIDGE, TEST_LAB_SUBNET,
TEST_LAB_REDFISH_PORT and TEST_LAB_IPMI_PORT pin any of them.
"""
from __future__ import annotations

import base64
import hashlib
import os
import socket
import subprocess
import time

import paramiko
import pytest
import sushy
from sushy import auth as sushy_auth

from devtools import lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, users)")

def ssh_connect(host: lab.LabHost, key_path: str, host_keys: paramiko.HostKeys) -> paramiko.SSHClient:
    sock = socket.create_connection((host.address, host.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client = paramiko.SSHClient()
    trusted = client.get_host_keys()
    for name in host_keys.keys():
        for key_type, key in host_keys[name].items():
            trusted.add(name, key_type, key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(host.address, port=host.port, username=host.user, key_filename=key_path,
                       sock=sock, look_for_keys=False, allow_agent=False, timeout=5,
                       banner_timeout=5, auth_timeout=5)
    except Exception:
        client.close()
        sock.close()
        raise
    return client


def run(client: paramiko.SSHClient, command: str) -> tuple[int, str, str]:
    _, stdout, stderr = client.exec_command(command, timeout=10)
    out, err = stdout.read().decode(), stderr.read().decode()
    return stdout.channel.recv_exit_status(), out, err


def inventory_host_keys(inv: lab.Inventory) -> paramiko.HostKeys:
    keys = paramiko.HostKeys()
    for h in inv.hosts:
        keys.add(h.known_hosts_name, h.host_key_type, paramiko.PKey.from_type_string(
            h.host_key_type, base64.b64decode(h.host_key)))
    return keys


def test_inventory_describes_every_host(lab_inventory):
    inv = lab_inventory
    assert [h.name for h in inv.hosts] == ["lab-node1", "lab-node2", "lab-node3"]
    assert inv.components == ("hosts", "redfish", "ipmi")
    assert oct(os.stat(inv.client_key_path).st_mode & 0o777) == "0o600"
    assert len({h.address for h in inv.hosts}) == 3
    if inv.network["mode"] == "netns":
        subnet = inv.network["subnet"]
        assert [h.address for h in inv.hosts] == [f"{subnet}.2", f"{subnet}.3", f"{subnet}.4"]
    for h in inv.hosts:
        digest = hashlib.sha256(base64.b64decode(h.host_key)).digest()
        assert h.fingerprint == "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
    assert set(inv.redfish.systems) == {h.name for h in inv.hosts}
    assert inv.ipmi.node == "lab-node3"
    for secret_file in (inv.redfish.credentials_file, inv.ipmi.credentials_file, inv.ipmi.password_file):
        assert oct(os.stat(secret_file).st_mode & 0o777) == "0o600"
    inventory_text = (inv.lab_dir / "inventory.json").read_text()
    assert inv.redfish.credentials()[1] not in inventory_text
    assert inv.ipmi.credentials()[1] not in inventory_text


def test_ssh_strict_host_keys_hostname_and_sudo(lab_inventory):
    inv = lab_inventory
    host_keys = inventory_host_keys(inv)
    for h in inv.hosts:
        client = ssh_connect(h, inv.client_key_path, host_keys)
        try:
            served = client.get_transport().get_remote_server_key()
            assert served.get_base64() == h.host_key
            status, out, _ = run(client, "hostname")
            assert (status, out.strip()) == (0, h.name)
            status, out, err = run(client, "sudo -n true && echo sudo-ok")
            assert (status, out.strip(), err) == (0, "sudo-ok", "")
            if inv.network["mode"] == "netns":  # hosts reach each other by name
                status, _, _ = run(client, "getent hosts lab-node1")
                assert status == 0
        finally:
            client.close()


def test_ssh_rejects_wrong_and_unknown_host_keys(lab_inventory):
    inv = lab_inventory
    target, other = inv.hosts[0], inv.hosts[1]
    wrong = paramiko.HostKeys()
    wrong.add(target.known_hosts_name, other.host_key_type,
              paramiko.PKey.from_type_string(other.host_key_type, base64.b64decode(other.host_key)))
    with pytest.raises(paramiko.BadHostKeyException):
        ssh_connect(target, inv.client_key_path, wrong)
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        ssh_connect(target, inv.client_key_path, paramiko.HostKeys())


def test_redfish_lists_systems_and_powers_one_on(lab_inventory):
    rf = lab_inventory.redfish
    user, password = rf.credentials()
    conn = sushy.Sushy(rf.url, auth=sushy_auth.BasicAuth(user, password), server_side_retries=0,
                       verify=rf.ca_file)
    members = {s.identity: s for s in conn.get_system_collection().get_members()}
    assert set(rf.systems.values()) <= set(members)
    system = members[rf.systems["lab-node2"]]
    assert system.name == "lab-node2"

    def reach(reset, state):
        system.reset_system(reset)
        deadline = time.monotonic() + rf.power_delay[1] + 5
        while system.power_state != state:
            assert time.monotonic() < deadline, f"still {system.power_state} after the deadline"
            time.sleep(0.2)
            system.refresh()

    reach(sushy.ResetType.ON, sushy.PowerState.ON)
    reach(sushy.ResetType.FORCE_OFF, sushy.PowerState.OFF)

    bad = sushy.Sushy(rf.url, auth=sushy_auth.BasicAuth(user, password + "x"), server_side_retries=0,
                       verify=rf.ca_file)
    with pytest.raises(sushy.exceptions.AccessError):
        bad.get_system(rf.system_path("lab-node1"))


def test_ipmi_power_on_and_status(lab_inventory, tmp_path):
    ipmi = lab_inventory.ipmi

    def ipmitool(*args, argv=None):
        proc = subprocess.run(argv or ipmi.ipmitool_argv("-N", "1", "-R", "1", *args),
                              capture_output=True, text=True, timeout=15)
        return proc.returncode, proc.stdout.strip()

    assert ipmitool("chassis", "power", "on")[0] == 0
    assert ipmitool("chassis", "power", "status") == (0, "Chassis Power is on")
    assert open(ipmi.power_state_file).read().strip() == "1"
    assert ipmitool("chassis", "power", "off")[0] == 0
    assert ipmitool("chassis", "power", "status") == (0, "Chassis Power is off")

    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    argv = ipmi.ipmitool_argv("-N", "1", "-R", "1", "chassis", "power", "status")
    argv[argv.index(ipmi.password_file)] = str(wrong)
    assert ipmitool(argv=argv)[0] != 0


def test_lab_up_again_is_idempotent(lab_inventory, lab_settings):
    t0 = time.monotonic()
    again = lab.lab_up(**lab_settings)
    # Same keys, addresses, system ids, credentials files (the session may have added Slurm and Salt
    # to the inventory since: those have their own tests).
    fields = ("hosts", "client_key_path", "known_hosts", "network", "redfish", "ipmi")
    assert [getattr(again, f) for f in fields] == [getattr(lab_inventory, f) for f in fields]
    assert lab.lab_status(**lab_settings) == {"hosts": True, "redfish": True, "ipmi": True}
    assert time.monotonic() - t0 < 10


@pytest.mark.django_db
def test_lab_register_publishes_its_networks_and_binds_each_credential(lab_inventory, make_user, settings, tmp_path):
    """`make lab`'s registration: nodes, BMCs and vault credentials, each credential bound to the
    lab addresses it belongs to, the lab's loopback BMCs published as managed networks; a job's
    client then reaches the real emulators through every check."""
    from django.core.management import call_command

    from apps.keyvault.models import Secret
    from apps.nodes import remote
    from apps.nodes.models import Node

    settings.MANAGED_NETWORKS = ["10.0.0.0/8"]
    settings.MANAGED_NETWORKS_DIR = tmp_path / "networks"
    make_user("admin", superuser=True)
    call_command("lab_register", lab_dir=str(lab_inventory.lab_dir), as_user="admin")
    published = (tmp_path / "networks" / "lab.txt").read_text()
    assert "127.0.0.1/32" in published
    assert Secret.objects.get(name="lab-redfish").destinations == ["127.0.0.1/32"]
    assert all(Node.objects.get(name=h.name).address == h.address for h in lab_inventory.hosts)
    for node in Node.objects.filter(bmc__isnull=False).select_related("bmc__credential"):
        assert remote.bmc_client(node, "test lab_register").power_state() in ("on", "off")
    (tmp_path / "networks" / "lab.txt").unlink()  # `make lab-down`: loopback is refused again
    node = Node.objects.filter(bmc__isnull=False).select_related("bmc__credential").first()
    with pytest.raises(remote.NodeUnavailable, match="refused"):
        remote.bmc_client(node, "test lab_register")
