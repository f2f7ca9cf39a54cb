"""The lab's GPUs over the lab's real SSH: every host's simulated nvidia-smi parses into a valid
telemetry record, control-file changes (hot, XID, vanished) show up, and the agent runs inside a
lab host's namespace against the running portal: its own credential, revocation (401, it says
so), and a portal restart that loses and duplicates nothing."""
from __future__ import annotations

import os
import re
import shlex
import signal
from pathlib import Path

import pytest
from django.utils import timezone

from aimatrix_agent import nvsmi
from devtools import lab_gpus
from devtools import processes as base
from tests import processes
from tests.conftest import wait_for
from tests.lab.test_lab import inventory_host_keys, run, ssh_connect

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, users)")


@pytest.fixture(scope="module")
def ssh(lab_inventory):
    """One SSH connection per lab host (strict host keys), as the portal's collection makes them."""
    keys = inventory_host_keys(lab_inventory)
    clients = {h.name: ssh_connect(h, lab_inventory.client_key_path, keys) for h in lab_inventory.hosts}
    yield clients
    for client in clients.values():
        client.close()


def smi(client, argv) -> str:
    status, out, err = run(client, shlex.join(argv))
    assert status == 0, err
    return out


def read_host(client) -> dict:
    """What the agentless collection does: query-gpu, remapped rows, -L/-q -x for MIG, dmesg."""
    ts = timezone.now().isoformat().replace("+00:00", "Z")
    gpus = nvsmi.parse_query_gpu(smi(client, nvsmi.QUERY_GPU_ARGV))
    xml = nvsmi.parse_query_xml(smi(client, nvsmi.QUERY_XML_ARGV))
    listed = nvsmi.parse_list_gpus(smi(client, nvsmi.LIST_GPUS_ARGV))
    remapped = nvsmi.parse_remapped_rows(smi(client, nvsmi.REMAPPED_ROWS_ARGV))
    inventory, samples = nvsmi.to_record_parts(gpus, ts, cuda_version=xml["cuda_version"],
                                               mig_devices=nvsmi.merge_mig(listed, xml), remapped=remapped)
    events = nvsmi.xid_events(nvsmi.parse_xid_log(smi(client, ["dmesg"])), gpus, ts)
    return {"gpus": gpus, "xml": xml, "listed": listed, "record": {
        "version": 1, "source": "agentless", "collected_at": ts, "hostname": "lab", "inventory": inventory,
        "gpu_samples": samples, "node_samples": [], "events": events}}


def test_every_lab_host_has_simulated_gpus(lab_inventory, ssh):
    from apps.gpus.record import validate

    seen_uuids = set()
    for host in lab_inventory.hosts:
        lab_gpus.reset(lab_inventory, host.name)
        read = read_host(ssh[host.name])
        record = validate(read["record"], source="agentless", retention_days=7)
        assert 2 <= len(record.inventory) <= 8
        uuids = [g["uuid"] for g in read["gpus"]]
        # Three commands, one truth: query-gpu, -L and -q -x list the same GPUs in the same order.
        assert uuids == [g["uuid"] for g in read["listed"]] == [g["uuid"] for g in read["xml"]["gpus"]]
        assert not seen_uuids & set(uuids)  # GPUs are per host
        seen_uuids |= set(uuids)
        assert record.events == []
        for gpu, sample in zip(read["gpus"], record.gpu_samples):
            if gpu["mig_mode"] == "Enabled":  # as on real MIG GPUs: utilisation unknown, devices listed
                assert sample["utilization_pct"] is None
                inventory = next(i for i in record.inventory if i["uuid"] == gpu["uuid"])
                assert [m["profile"] for m in inventory["mig_devices"]] == ["3g.40gb", "2g.20gb", "1g.10gb"]
                assert all(m["uuid"].startswith("MIG-") and m["gpu_instance"] for m in inventory["mig_devices"])
            else:
                assert 0 <= sample["utilization_pct"] <= 100
            assert 20 <= sample["temperature_c"] < 85 and sample["power_w"] > 0
    banner = smi(ssh[lab_inventory.hosts[0].name], ["nvidia-smi", "--version"])
    assert "lab device" in banner  # clearly not a real GPU


def test_control_file_makes_gpus_hot_throw_xids_and_vanish(lab_inventory, ssh):
    host = lab_inventory.hosts[1].name
    client = ssh[host]
    lab_gpus.reset(lab_inventory, host)
    before = read_host(client)["gpus"]
    try:
        lab_gpus.set_gpu(lab_inventory, host, 0, temperature_c=92)
        lab_gpus.set_gpu(lab_inventory, host, 1, gone=True)
        lab_gpus.throw_xid(lab_inventory, host, 0, 79)
        after = read_host(client)
        hot = after["gpus"][0]
        assert hot["uuid"] == before[0]["uuid"] and hot["temperature_c"] == 92.0
        assert {"sw_thermal_slowdown", "hw_thermal_slowdown"} <= set(hot["throttle_reasons"])
        uuids = [g["uuid"] for g in after["gpus"]]
        assert before[1]["uuid"] not in uuids and len(uuids) == len(before) - 1
        assert before[1]["uuid"] not in [g["uuid"] for g in after["listed"]]
        assert [(e["uuid"], e["xid"], e["message"]) for e in after["record"]["events"]] == [
            (before[0]["uuid"], 79, "GPU has fallen off the bus.")]
        lab_gpus.set_gpu(lab_inventory, host, 2, ecc_uncorrected=3, row_remap_failure=True)
        third = next(s for s in read_host(client)["record"]["gpu_samples"] if s["uuid"] == before[2]["uuid"])
        assert third["ecc_uncorrected"] == 3 and third["row_remap_failure"] is True
    finally:
        lab_gpus.reset(lab_inventory, host)
    assert [g["uuid"] for g in read_host(client)["gpus"]] == [g["uuid"] for g in before]


# --- the agent inside a lab host ----------------------------------------------------------
@pytest.fixture
def portal(lab_inventory, transactional_db):
    """daphne on the test database, reachable from the lab's namespaces (the bridge address)."""
    gateway = lab_inventory.network.get("gateway") or "127.0.0.1"
    env = processes.child_env(AIMATRIX_ALLOWED_HOSTS=f"localhost,127.0.0.1,{gateway}")
    proc, url = base.start_daphne("lab-agent-daphne", env, processes.LOG_DIR, host="0.0.0.0")
    port = int(url.rsplit(":", 1)[1])
    state = {"proc": proc, "url": f"http://{gateway}:{port}"}

    def restart():
        state["proc"].stop()
        state["proc"], _ = base.start_daphne("lab-agent-daphne", env, processes.LOG_DIR, port=port, host="0.0.0.0")

    state["restart"] = restart
    yield state
    state["proc"].stop()


@pytest.fixture
def agent_dir(lab_inventory):
    """A directory the lab user owns, for the agent's token file and buffer (on the host's disk)."""
    import pwd
    import shutil

    host = lab_inventory.hosts[0]
    path = Path(lab_inventory.lab_dir) / "hosts" / host.name / "agent"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    user = pwd.getpwnam(host.user)
    os.chown(path, user.pw_uid, user.pw_gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def agent_command(portal_url: str, workdir: Path, *extra) -> str:
    return (f"cd {shlex.quote(str(ROOT))} && python3 -m aimatrix_agent --url {shlex.quote(portal_url)} "
            f"--token-file {workdir}/token --buffer-dir {workdir}/buffer " + " ".join(extra))


def test_agent_in_a_lab_host_pushes_survives_a_portal_restart_and_stops_when_revoked(
        lab_inventory, ssh, portal, agent_dir, root):
    import pwd

    from apps.gpus import agent_auth
    from apps.gpus.models import Gpu, GpuSample, NodeCredential, NodeSample
    from apps.keyvault import onetime
    from apps.nodes import services as nodes

    host = lab_inventory.hosts[0]
    lab_gpus.reset(lab_inventory, host.name)
    client = ssh[host.name]
    node = nodes.create_node(root, name=host.name, address=host.address, ssh_port=host.port, ssh_user=host.user)
    _row, token = onetime.issue_token(root, agent_auth.PURPOSE, node.name)
    token_file = agent_dir / "token"
    token_file.write_text(token + "\n")
    user = pwd.getpwnam(host.user)
    os.chown(token_file, user.pw_uid, user.pw_gid)
    token_file.chmod(0o600)

    # 1. Inside the host (its own network namespace and hostname): fetch the agent from the portal
    # as the node page's install command does, then enroll and push once with that one file.
    url = portal["url"]
    status, _out, err = run(client, f"curl -fsS -o {agent_dir}/agent.pyz {url}/agent/aimatrix-agent.pyz && "
                                    f"cd / && python3 {agent_dir}/agent.pyz --url {url} --token-file "
                                    f"{agent_dir}/token --buffer-dir {agent_dir}/buffer --once")
    assert status == 0, err
    assert f"enrolled as node {host.name}" in err and "reading GPUs through nvidia-smi" in err
    credential = NodeCredential.objects.get(node=node)
    assert credential.enrolled_from is not None
    if lab_inventory.network["mode"] == "netns":  # pushed from the host's own address and hostname
        assert credential.enrolled_from == host.address and credential.hostname == host.name
    gpus_per_batch = Gpu.objects.filter(node=node).count()
    assert 2 <= gpus_per_batch <= 8

    # 2. The agent runs on; the portal goes away and comes back.
    loop = (f"echo $$ > {agent_dir}/agent.pid; cd {shlex.quote(str(ROOT))} && exec python3 -m aimatrix_agent "
            f"--url {portal['url']} --token-file {agent_dir}/token --buffer-dir {agent_dir}/buffer "
            f"--interval 1 --deadline 5 2> {agent_dir}/agent.log")
    _in, out, _err = client.exec_command(f"sh -c {shlex.quote(loop)}")
    wait_for(lambda: NodeSample.objects.filter(node=node).count() >= 3, timeout=30, message="the agent's pushes")
    portal["proc"].stop()
    wait_for(lambda: len(list((agent_dir / "buffer").glob("batch-*.json"))) >= 3, timeout=30,
             message="batches buffered while the portal is down")
    portal["restart"]()
    wait_for(lambda: not list((agent_dir / "buffer").glob("batch-*.json")), timeout=30,
             message="the buffer drained")
    pid = int((agent_dir / "agent.pid").read_text())
    os.kill(pid, signal.SIGTERM)  # the agent process we started in the host's namespace
    assert out.channel.recv_exit_status() == 0
    summary = (agent_dir / "agent.log").read_text()
    counts = re.search(r"collected (\d+), delivered (\d+), refused (\d+), dropped for the size cap (\d+), "
                       r"still buffered (\d+)", summary)
    assert counts, summary
    collected, delivered, refused, dropped, left = map(int, counts.groups())
    assert "portal unreachable" in summary and refused == dropped == left == 0
    assert collected == delivered >= 6
    # Nothing lost, nothing twice: one node sample per batch (plus the --once one), GPU samples alike.
    stored = NodeSample.objects.filter(node=node)
    assert stored.count() == delivered + 1
    assert stored.values("ts").distinct().count() == delivered + 1
    assert GpuSample.objects.filter(gpu__node=node).count() == (delivered + 1) * gpus_per_batch

    # 3. Revoked: the next push is refused and the agent says so.
    agent_auth.revoke_credential(root, credential, "lab test")
    status, _out, err = run(client, agent_command(portal["url"], agent_dir, "--once"))
    assert status == 77, err
    assert "refused this node's credential (HTTP 401)" in err and "revoked" in err
