"""Agentless collection: nvidia-smi and /proc output -> the telemetry record -> ingest.

The SSH boundary is faked here (canned command output per node); tests/gpus/test_collect_lab.py
runs the same code against the lab's hosts over real SSH."""
import pytest

from apps.gpus import collect
from apps.gpus.models import Gpu, GpuHealth, NodeSample
from apps.nodes import remote
from apps.nodes.ssh import Result

pytestmark = pytest.mark.django_db

SMI = """\
0, GPU-aaaa-0, NVIDIA H100 80GB HBM3, 00000000:17:00.0, 550.54.15, 81559, 40960, 97, 71, 612.40, 700.00, 1980, Disabled, 0, 0, 0x0000000000000004
1, GPU-aaaa-1, NVIDIA H100 80GB HBM3, 00000000:2A:00.0, 550.54.15, 81559, 0, 0, 35, 70.10, 700.00, 345, [N/A], [N/A], [N/A], 0x0000000000000001
"""
PROC = {
    "stat": "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0 0 0\n",
    "loadavg": "1.50 1.00 0.50 2/300 12345\n",
    "meminfo": "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    8000000 kB\n",
    "net/dev": "Inter-|   Receive\n face |bytes\n    lo: 999 0 0 0 0 0 0 0 999 0 0 0 0 0 0 0\n"
               "  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n",
    "diskstats": "   8       0 sda 10 0 100 0 10 0 200 0 0 0 0 0 0 0 0 0 0\n",
}


@pytest.fixture(autouse=True)
def no_previous_counters():
    from django.core.cache import cache

    cache.clear()  # the test Redis: counters of an earlier test's node with the same id


@pytest.fixture
def fake_ssh(monkeypatch):
    """remote.run answering as a node with two H100s would; `down` names nodes that do not answer."""
    calls, down = [], set()

    def run(node, argv, *, timeout, purpose, stdin=None, actor=None):
        calls.append((node.name, argv))
        if node.name in down:
            raise remote.NodeUnavailable(f"{node.name}: connection refused")
        command = [a for a in argv if a in ("nvidia-smi", "cat") or a.startswith("/proc/")]
        if command[0] == "nvidia-smi":
            return Result(0, SMI, "", 0.01)
        return Result(0, PROC[command[1][len("/proc/"):]], "", 0.01)

    monkeypatch.setattr(remote, "run", run)
    return calls, down


def test_a_node_is_collected_into_inventory_and_samples(gpu_node, fake_ssh):
    result = collect.collect_node(gpu_node, purpose="test")
    assert result["gpus"] == 2 and result["gpu_samples"] == 2 and result["node_samples"] == 1
    busy = Gpu.objects.get(uuid="GPU-aaaa-0")
    assert (busy.model, busy.memory_total_mib, busy.pci_bus_id) == ("NVIDIA H100 80GB HBM3", 81559, "00000000:17:00.0")
    assert busy.last_sample["utilization_pct"] == 97 and busy.last_sample["throttle_reasons"] == ["sw_power_cap"]
    assert busy.last_sample["source"] == "agentless"
    idle = Gpu.objects.get(uuid="GPU-aaaa-1")
    assert idle.mig_mode == "" and idle.last_sample["ecc_uncorrected"] is None  # [N/A] is unknown, not 0
    sample = NodeSample.objects.get()
    assert (sample.load1, sample.memory_total_bytes) == (1.5, 16000000 * 1024)
    assert sample.cpu_pct is None and sample.net_rx_bps is None  # rates need a second poll


def test_the_second_poll_has_rates(gpu_node, fake_ssh):
    collect.collect_node(gpu_node, purpose="test")
    PROC_BEFORE = dict(PROC)
    try:
        PROC["stat"] = "cpu  200 0 200 900 0 0 0 0 0 0\n"
        collect.collect_node(gpu_node, purpose="test")
    finally:
        PROC.update(PROC_BEFORE)
    newest = NodeSample.objects.order_by("-ts", "-id").first()
    assert newest.cpu_pct == pytest.approx(100 * 200 / 300, abs=0.01)
    assert newest.net_rx_bps == 0.0


def test_commands_are_argv_lists_bounded_on_the_host(gpu_node, fake_ssh):
    calls, _ = fake_ssh
    collect.collect_node(gpu_node, purpose="test")
    smi = next(argv for _, argv in calls if "nvidia-smi" in argv)
    assert isinstance(smi, list) and "--format=csv,noheader,nounits" in smi and smi[0] == "timeout"


@pytest.mark.django_db(transaction=True)  # the fan-out's threads have their own connections
def test_collect_many_reports_each_node(gpu_node, root, fake_ssh):
    from apps.nodes import services as nodes

    other = nodes.create_node(root, name="gpu-down", address="10.0.0.77")
    _, down = fake_ssh
    down.add(other.name)
    seen = {}
    counts = collect.collect([gpu_node, other], purpose="test",
                             on_result=lambda node, ok, message, data: seen.update({node.name: (ok, message)}))
    assert counts == {"collected": 1, "failed": 1}
    assert seen["gpu-node"] == (True, "2 GPU(s), 2 sample(s)")
    assert seen["gpu-down"] == (False, "gpu-down: connection refused")


def test_a_vanished_gpu_over_agentless_is_failed(gpu_node, fake_ssh):
    global SMI
    collect.collect_node(gpu_node, purpose="test")
    original = SMI
    try:
        SMI = original.splitlines()[0] + "\n"
        collect.collect_node(gpu_node, purpose="test")
    finally:
        SMI = original
    gone = Gpu.objects.get(uuid="GPU-aaaa-1")
    assert (gone.present, gone.health, gone.health_reason) == (False, GpuHealth.FAILED, "missing from inventory")


def test_agentless_nodes_skip_nodes_whose_agent_pushes(gpu_node, root):
    from django.utils import timezone

    from apps.gpus.ingest import ingest
    from apps.keyvault.services import create_secret

    from .conftest import gpu_sample, inventory_item, record

    key = create_secret(root, name="k", kind="ssh_private_key", value="-----BEGIN OPENSSH PRIVATE KEY-----x")
    type(gpu_node).objects.filter(pk=gpu_node.pk).update(ssh_credential=key)
    assert list(collect.agentless_nodes()) == [gpu_node]
    ingest(gpu_node, record(inventory=[inventory_item(0)], gpu_samples=[gpu_sample("GPU-test-0", timezone.now())]),
           source="agent")
    assert list(collect.agentless_nodes()) == []
