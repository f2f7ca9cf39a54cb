"""Helpers of scripts/lab/slurm.sh (stdlib only).

    slurmtool.py gpu-count HOST            GPUs the lab's simulated nvidia-smi shows on HOST
    slurmtool.py wait-tcp ADDR PORT TIMEOUT
    slurmtool.py publish LAB_DIR           the `slurm` section of inventory.json, from the
                                           clusters' cluster.env / cluster.json files
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import socket
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import labtool  # noqa: E402  (scripts/lab/labtool.py: inventory fragments)


def cmd_gpu_count(host: str) -> None:
    print(gpu_count(host))


def cmd_wait_tcp(addr: str, port: str, timeout: str) -> None:
    deadline = time.monotonic() + float(timeout)
    last = ""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((addr, int(port)), timeout=1):
                return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.05)
    labtool.fail(f"{addr}:{port} did not accept a connection within {timeout}s ({last})")


def read_env(path: Path) -> dict:
    """cluster.env: KEY="value" lines written by slurm.sh (values never hold quotes or $)."""
    out = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            out[key.strip()] = value.strip().strip('"')
    return out


def gpu_count(host: str) -> int:
    """Same count as scripts/lab/gpus/nvidia-smi (its own function, no control file: a GPU a
    test made vanish is still a device of the node)."""
    path = HERE.parent / "gpus" / "nvidia-smi"
    loader = importlib.machinery.SourceFileLoader("lab_nvidia_smi", str(path))
    spec = importlib.util.spec_from_loader("lab_nvidia_smi", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return len(module.build_gpus(host, {}, time.time()))


def cluster_info(env: dict) -> dict:
    cdir = Path(env["CDIR"])
    hosts_dir = Path(env["HOSTS_DIR"])
    in_cluster = env["NODES"].split()
    nodes = []
    for state_file in sorted(hosts_dir.glob("*/state"), key=lambda p: int(labtool.read_kv(p)["index"])):
        st = labtool.read_kv(state_file)
        name = st["name"]
        devices = sorted((cdir / "dev" / name).glob("nvidia[0-9]*"), key=lambda p: int(p.name[6:]))
        nodes.append({"name": name, "address": st["address"], "in_cluster": name in in_cluster,
                      "gpus": len(devices), "gpu_devices": [str(p) for p in devices]})
    control = env["CONTROL"]
    info = {
        "name": env["CLUSTER"], "kind": env["KIND"], "version": env.get("VERSION", ""),
        "controller_host": env["CTLD_HOST"], "controller_address": env["CTLD_ADDR"],
        "slurmctld_port": int(env["CTLD_PORT"]), "slurmd_port": int(env["SLURMD_PORT"]),
        "login_host": env["LOGIN_HOST"],
        "conf_dir": str(Path(env["CONF"]).parent), "slurm_conf": env["CONF"],
        "gres_conf": env["GRES_CONF"], "base_conf": env["BASE_CONF"],
        "partition": env["PARTITION"], "munge_socket": env["MUNGE_SOCKET"],
        "accounting": env["ACCOUNTING"] == "slurmdbd",
        "account": env.get("ACCOUNT") or None,
        "nodes": nodes,
        # What a portal runs on a lab host over SSH (as the lab user); `hostname` on a host is
        # its node name, so slurmd_restart restarts the slurmd of the host it runs on.
        "control": {
            "script": control,
            "restart_slurmctld": ["sudo", "-n", control, "restart"],
            "status": ["sudo", "-n", control, "status"],
            "slurmd_restart": ["sudo", "-n", control, "slurmd-restart"],
            "slurmd_stop": ["sudo", "-n", control, "slurmd-stop"],
            "slurmd_start": ["sudo", "-n", control, "slurmd-start"],
            "reconfigure": ["sudo", "-n", "scontrol", "reconfigure"],
        },
        "env": {"SLURM_CONF": env["CONF"]},
        "ssh": None,
    }
    ssh_lab = env.get("SSH_LAB_DIR")
    if ssh_lab:  # a cluster on hosts of its own (the external one): how to reach them
        inv = json.loads((Path(ssh_lab) / "inventory.json").read_text())
        info["ssh"] = {"hosts": inv["hosts"], "client_key_path": inv["client_key_path"],
                       "known_hosts": inv["known_hosts"], "network": inv["network"]}
    return info


def cmd_publish(lab_dir: str) -> None:
    lab = Path(lab_dir)
    clusters = [cluster_info(read_env(p)) for p in sorted((lab / "slurm").glob("*/cluster.env"))]
    clusters.sort(key=lambda c: (c["kind"] != "managed", c["name"]))
    db = lab / "slurm" / "db" / "db.env"
    accounting = None
    if db.exists():
        env = read_env(db)
        accounting = {"slurmdbd_host": env["DBD_ADDR"], "slurmdbd_port": int(env["DBD_PORT"]),
                      "mariadb_port": int(env["DB_PORT"]), "mariadb_socket": env["DB_SOCKET"]}
    labtool.publish(lab, "slurm", {"slurm": {"clusters": clusters, "accounting": accounting}})


COMMANDS = {"gpu-count": cmd_gpu_count, "wait-tcp": cmd_wait_tcp, "publish": cmd_publish}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
