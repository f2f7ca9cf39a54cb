"""The lab's Slurm (scripts/lab/slurm.sh) against itself: real munge, MariaDB, slurmdbd,
slurmctld and one slurmd per lab host in its network namespace, reached over real SSH with
strict host keys, the way a portal reaches a cluster.

Slurm comes up once per session (the `slurm_lab` fixture) on the session's own lab (directory,
bridge, subnet and ports from devtools.lab.unique_settings).
"""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import pytest

from apps.nodes import ssh
from devtools import lab

from ..labshell import lab_run as on, poll

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, users)")

def ok(result: ssh.Result) -> str:
    assert result.ok, f"exit {result.exit_status}: {result.stderr or result.stdout}"
    return result.stdout


def node_states(inv, cluster) -> dict[str, tuple[str, str]]:
    out = ok(on(inv, inv.slurm_login(cluster), ["sinfo", "-h", "-N", "-o", "%N|%T|%G"]))
    return {name: (state, gres) for name, state, gres in (line.split("|") for line in out.split())}


@pytest.fixture(scope="module")
def managed(slurm_lab):
    return slurm_lab.slurm.managed


def test_inventory_lists_both_clusters(slurm_lab):
    slurm = slurm_lab.slurm
    assert "slurm" in slurm_lab.components
    assert slurm.managed.controller_host == slurm_lab.hosts[0].name
    assert slurm.managed.node_names == [h.name for h in slurm_lab.hosts]
    assert slurm.managed.accounting and slurm.accounting["slurmdbd_port"] > 0
    assert slurm.external.node_names == [f"{slurm.external.name}-node1", f"{slurm.external.name}-node2"]
    assert not slurm.external.accounting
    assert {h.name for h in slurm.external.ssh_hosts} == set(slurm.external.node_names)


def test_every_node_is_idle_with_its_gpus_over_ssh(slurm_lab, managed):
    states = node_states(slurm_lab, managed)
    assert set(states) == set(managed.node_names)
    for name, gpus in managed.gpus_per_node.items():
        assert gpus >= 2
        assert states[name] == ("idle", f"gpu:{gpus}")


def test_sessions_and_sudo_see_the_cluster_conf(slurm_lab, managed):
    host = slurm_lab.slurm_login(managed)
    conf = ok(on(slurm_lab, host, ["sh", "-c", 'echo "$SLURM_CONF"'])).strip()
    assert Path(conf).resolve() == Path(managed.slurm_conf).resolve()
    assert ok(on(slurm_lab, host, ["sudo", "-n", "scontrol", "show", "config"])).count(
        f"ClusterName             = {managed.name}\n") == 1


def test_base_template_is_the_config_without_nodes_and_partitions(managed):
    base = Path(managed.base_conf).read_text()
    full = Path(managed.slurm_conf).read_text()
    assert full.startswith(base)
    assert not re.search(r"^\s*(NodeName|PartitionName)=", base, re.M | re.I)
    assert re.search(r"^GresTypes=gpu$", base, re.M)
    rendered = full[len(base):]
    assert sorted(re.findall(r"^NodeName=(\S+)", rendered, re.M)) == sorted(managed.node_names)
    assert re.findall(r"^PartitionName=(\S+)", rendered, re.M) == [managed.partition]
    gres = Path(managed.gres_conf).read_text()
    assert "AutoDetect=off" in gres
    for node in managed.nodes:
        assert len(node.gpu_devices) == node.gpus
        assert all(os.major(os.stat(d).st_rdev) == 1 and os.minor(os.stat(d).st_rdev) == 3 for d in node.gpu_devices)
        assert f"NodeName={node.name} Name=gpu File={Path(managed.conf_dir).parent}/dev/{node.name}/nvidia[0-{node.gpus - 1}]" in gres


def test_gpu_job_gets_cuda_visible_devices_and_reaches_sacct(slurm_lab, managed):
    host = slurm_lab.slurm_login(managed)
    target = managed.nodes[-1]
    # The lab user's home is shared by every lab on the machine: a name no other session uses.
    out_file = f"lab-gpu-check-{secrets.token_hex(6)}.out"
    script = "#!/bin/sh\necho \"node=$SLURMD_NODENAME cvd=$CUDA_VISIBLE_DEVICES\"\n"
    job_id = ok(on(slurm_lab, host, ["sbatch", "--parsable", "--gres=gpu:1", "-w", target.name,
                                     "-J", "lab-gpu-check", "-o", out_file], stdin=script)).strip()
    assert job_id.isdigit()
    poll(lambda: ok(on(slurm_lab, host, ["scontrol", "show", "job", "-o", job_id])),
         lambda out: "JobState=COMPLETED" in out, what=f"job {job_id} to complete")
    output = ok(on(slurm_lab, host, ["cat", out_file])).strip()
    on(slurm_lab, host, ["rm", "-f", out_file])
    node, cvd = re.fullmatch(r"node=(\S+) cvd=(\d+)", output).groups()
    assert node == target.name and int(cvd) < target.gpus
    # slurmdbd may first hold a partial record (name "allocation"): poll for the whole row.
    row = poll(lambda: ok(on(slurm_lab, host, ["sacct", "-n", "-X", "-P", "-j", job_id,
                                               "-o", "JobID,JobName,State,AllocTRES"])).strip().split("|"),
               lambda r: r[:3] == [job_id, "lab-gpu-check", "COMPLETED"] and "gres/gpu=1" in r[-1].split(","),
               what=f"job {job_id} complete in sacct with one GPU")
    assert len(row) == 4


def test_external_cluster_answers_over_its_own_ssh_host(slurm_lab):
    ext = slurm_lab.slurm.external
    host = slurm_lab.slurm_login(ext)
    assert host.address != slurm_lab.hosts[0].address
    assert re.fullmatch(r"slurm(-wlm)? \d+\.\d+\.\d+", ok(on(slurm_lab, host, ["scontrol", "--version"])).strip())
    states = node_states(slurm_lab, ext)
    assert {n: s for n, (s, _) in states.items()} == {n: "idle" for n in ext.node_names}
    config = ok(on(slurm_lab, host, ["scontrol", "show", "config"]))
    assert re.search(rf"^ClusterName\s+= {ext.name}$", config, re.M)


def _pid(path: str) -> int:
    return int(Path(path).read_text())


def test_control_script_restarts_slurmctld_and_a_slurmd(slurm_lab, managed):
    cdir = Path(managed.conf_dir).parent
    before = _pid(cdir / "run" / "lab-slurmctld.pid")
    ok(on(slurm_lab, slurm_lab.host(managed.controller_host), managed.control["restart_slurmctld"], timeout=60))
    assert _pid(cdir / "run" / "lab-slurmctld.pid") != before
    assert "is UP" in ok(on(slurm_lab, slurm_lab.slurm_login(managed), ["scontrol", "ping"]))
    assert {s for s, _ in node_states(slurm_lab, managed).values()} == {"idle"}

    node = managed.nodes[1].name
    slurmd_before = _pid(cdir / "nodes" / node / "lab-slurmd.pid")
    ok(on(slurm_lab, slurm_lab.host(node), managed.control["slurmd_restart"], timeout=60))
    assert _pid(cdir / "nodes" / node / "lab-slurmd.pid") != slurmd_before
    poll(lambda: node_states(slurm_lab, managed)[node][0], lambda s: s == "idle", what=f"{node} idle")


def _lab_processes(inv: lab.Inventory) -> list[str]:
    """Live processes of this lab's Slurm: any naming its directory (command line or SLURM_CONF),
    and job steps in the lab hosts' namespaces."""
    mark = str(inv.lab_dir / "slurm")
    netns = {os.stat(f"/run/netns/{h.netns}").st_ino for h in inv.hosts if h.netns and os.path.exists(f"/run/netns/{h.netns}")}
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                continue  # this machine's PID 1 reaps late
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            in_lab_ns = os.stat(f"/proc/{pid}/ns/net").st_ino in netns
        except (OSError, IndexError):
            continue
        comm = Path(f"/proc/{pid}/comm").read_text().strip() if os.path.exists(f"/proc/{pid}/comm") else ""
        if mark in cmd or mark.encode() in environ or (in_lab_ns and comm.startswith("slurm")):
            found.append(f"{pid} {cmd}")
    return found


def test_down_leaves_no_process_and_up_brings_it_back(slurm_lab, lab_settings, managed):
    host = slurm_lab.slurm_login(managed)
    ok(on(slurm_lab, host, ["sbatch", "--parsable", "-J", "lab-still-running", "-o", "/dev/null"],
          stdin="#!/bin/sh\nsleep 300\n"))
    poll(lambda: ok(on(slurm_lab, host, ["squeue", "-h", "-n", "lab-still-running", "-o", "%T"])).strip(),
         lambda s: s == "RUNNING", what="the sleeping job to run")
    assert _lab_processes(slurm_lab)
    lab.lab_down(("slurm",), **lab_settings)
    assert _lab_processes(slurm_lab) == []
    assert "slurm" not in lab.Inventory.load(slurm_lab.lab_dir).components
    again = lab.lab_up(("slurm",), **lab_settings)   # the session's other tests keep their Slurm
    # The job whose processes went down with the lab is gone once its node registers again.
    poll(lambda: {s for s, _ in node_states(again, again.slurm.managed).values()}, lambda s: s == {"idle"},
         what="every node idle again")
