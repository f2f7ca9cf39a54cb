"""Bring the local lab (SSH hosts, Redfish and IPMI BMCs, Slurm, Salt) up and down from Python.

The work is done by scripts/lab/{hosts,redfish,ipmi,slurm,salt}.sh; this module runs them with the given
settings and reads back $LAB_DIR/inventory.json as an `Inventory`. Settings are the scripts'
LAB_* environment variables, given as keyword arguments with or without the prefix:

    inv = lab_up(("hosts", "redfish"), dir="var/test/lab", bridge="aimx-t0", subnet="10.78.0",
                 redfish_port=18100, redfish_fast=1)
    inv.hosts[0].address, inv.client_key_path, inv.redfish.credentials()
    lab_down(dir="var/test/lab")
    inv = lab_up(("slurm",), **settings)   # on top of the hosts: inv.slurm.managed, .external

`lab_up()` without components starts DEFAULT_COMPONENTS (not Slurm or Salt: a test session asks
for them); `lab_down()` without components stops every component, Slurm and Salt included.

Secrets (the Redfish and IPMI passwords) stay in their mode-600 files; `credentials()` reads
them on demand and nothing here logs or formats them.

CLI: python -m devtools.lab up|down|status [hosts redfish ipmi slurm salt]   (settings from LAB_* env)
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

# The inventory is read by production code too (manage.py lab_register), which cannot import
# devtools/: it lives in the nodes app and is re-exported here unchanged.
from apps.nodes.lab_inventory import (  # noqa: F401  (re-exported)
    Inventory,
    IpmiInfo,
    LabHost,
    RedfishInfo,
    SaltInfo,
    SaltMinion,
    SlurmCluster,
    SlurmInfo,
    SlurmNode,
    read_creds,
    read_creds as _read_creds,
)

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts" / "lab"
COMPONENTS = ("hosts", "redfish", "ipmi", "slurm", "salt")
DEFAULT_COMPONENTS = ("hosts", "redfish", "ipmi")
DEFAULT_LAB_DIR = ROOT / "var" / "lab"


class LabError(RuntimeError):
    """A lab script failed; the message carries its output."""


def lab_env(**settings) -> dict[str, str]:
    """Environment for the scripts: os.environ plus settings (dir= -> LAB_DIR, ...)."""
    env = dict(os.environ)
    for key, value in settings.items():
        name = key.upper()
        if not name.startswith("LAB_"):
            name = f"LAB_{name}"
        if isinstance(value, (list, tuple)):
            value = " ".join(str(v) for v in value)
        env[name] = str(value)
    lab_dir = Path(env.get("LAB_DIR") or DEFAULT_LAB_DIR)
    env["LAB_DIR"] = str(lab_dir if lab_dir.is_absolute() else ROOT / lab_dir)
    return env


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _used_subnets() -> set[str]:
    """First three octets of every IPv4 address configured on this machine."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return set()
    used = set()
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            used.add(parts[parts.index("inet") + 1].rsplit(".", 1)[0])
    return used


def _link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def unique_settings(base_dir: str | os.PathLike | None = None, **overrides) -> dict:
    """Settings for a lab no other job on this machine is using: a fresh directory under
    base_dir (default var/test/labs), a bridge and a 10.78.x subnet not configured yet, free
    TCP/UDP ports for Redfish, IPMI, Slurm and Salt. Several test sessions can then run side by side
    (with fixed values a second session's teardown stops the first one's lab)."""
    base = Path(base_dir or ROOT / "var" / "test" / "labs")
    base.mkdir(parents=True, exist_ok=True)
    lab_dir = tempfile.mkdtemp(prefix="lab-", dir=base)
    tag = os.getpid() % 100000
    bridge = f"aimxt{tag}"
    for n in range(1, 100):
        if not _link_exists(bridge):
            break
        bridge = f"aimxt{tag}x{n}"[:15]
    used = _used_subnets()
    subnet = next((f"10.78.{(tag + i) % 254 + 1}" for i in range(254)
                   if f"10.78.{(tag + i) % 254 + 1}" not in used), "10.78.0")
    settings = {"dir": lab_dir, "bridge": bridge, "subnet": subnet,
                "redfish_port": free_port(), "ipmi_port": free_port(socket.SOCK_DGRAM)}
    for name in ("ctld", "slurmd", "dbd", "db", "ext_ctld", "ext_slurmd"):
        settings[f"slurm_{name}_port"] = free_port()
    for name in ("publish", "ret", "api"):
        settings[f"salt_{name}_port"] = free_port()
    settings.update(overrides)
    return settings


def _run(component: str, action: str, env: dict, timeout: float) -> str:
    if component not in COMPONENTS:
        raise ValueError(f"unknown lab component {component!r} (expected one of {COMPONENTS})")
    proc = subprocess.run([str(SCRIPTS / f"{component}.sh"), action], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise LabError(f"scripts/lab/{component}.sh {action} exited {proc.returncode}:\n{out}")
    return out


def lab_up(components=DEFAULT_COMPONENTS, *, timeout: float = 120, **settings) -> Inventory:
    """Start the components (idempotent) and return the inventory."""
    env = lab_env(**settings)
    for component in components:
        _run(component, "up", env, timeout)
    return Inventory.load(env["LAB_DIR"])


def lab_down(components=COMPONENTS, *, timeout: float = 60, **settings) -> None:
    """Stop the components (reverse order); every one is attempted, the first failure raised."""
    env = lab_env(**settings)
    errors = []
    for component in reversed(tuple(components)):
        try:
            _run(component, "down", env, timeout)
        except (LabError, subprocess.TimeoutExpired) as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


def lab_status(components=DEFAULT_COMPONENTS, **settings) -> dict[str, bool]:
    env = lab_env(**settings)
    status = {}
    for component in components:
        try:
            _run(component, "status", env, 30)
            status[component] = True
        except LabError:
            status[component] = False
    return status


def stop_salt_minion(root_dir: Path, timeout: float = 15) -> None:
    """Stop a salt-minion a test or benchmark started on a lab host (by the pid file under its
    root_dir): SIGTERM to its process group, then wait until it is gone (on its way out it still
    writes into its configuration directory)."""
    import signal
    import time

    try:
        pgid = os.getpgid(int((Path(root_dir) / "var" / "run" / "salt-minion.pid").read_text().strip()))
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.killpg(pgid, 0)
            time.sleep(0.2)
        os.killpg(pgid, signal.SIGKILL)
    except (OSError, ValueError):  # no pid file, or gone
        pass


def remove_salt_minions(api, base: Path, minion_ids) -> None:
    """Minions started under base/<id>/r (batch installs on the lab): stopped, their keys deleted on
    the master, their directories removed."""
    import shutil

    for minion_id in minion_ids:
        stop_salt_minion(Path(base) / minion_id / "r")
    for minion_id in minion_ids:
        if api.key(minion_id) is not None:
            api.delete(minion_id)
    shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("up", "down", "status"):
        print(__doc__, file=sys.stderr)
        return 2
    components = tuple(argv[1:]) or (COMPONENTS if argv[0] == "down" else DEFAULT_COMPONENTS)
    try:
        if argv[0] == "up":
            inv = lab_up(components)
            print(f"lab: {', '.join(inv.components)} up; inventory {inv.lab_dir / 'inventory.json'}")
        elif argv[0] == "down":
            lab_down(components)
            print("lab: down")
        else:
            status = lab_status(components)
            print(" ".join(f"{c}={'up' if ok else 'down'}" for c, ok in status.items()))
            return 0 if all(status.values()) else 1
    except LabError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
