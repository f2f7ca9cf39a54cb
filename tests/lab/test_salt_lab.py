"""The lab's Salt (scripts/lab/salt.sh) against itself: the master never auto-accepts, minions run
inside their hosts' network namespaces and pin the master's key, the salt-api password stays in
mode-600 files, and up/down are idempotent and stop only what they started.

Salt comes up once per session (the `salt_lab` fixture) on the session's own lab.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from apps.nodes.salt import pem_body_fingerprint
from devtools import lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, users)")

ROOT = Path(__file__).resolve().parents[2]
SALT_BIN = Path(os.environ.get("LAB_SALT_VENV") or ROOT / "var/salt-venv") / "bin"
SALT_KEY = SALT_BIN / "salt-key"


def key_lists(master_dir: Path) -> dict:
    return json.loads(subprocess.run([str(SALT_KEY), "-c", str(master_dir), "-L", "--out=json"],
                                     capture_output=True, text=True, check=True, timeout=60).stdout)


def conf(path: Path) -> dict:
    """The few `key: value` lines of a generated Salt config (no YAML parser needed)."""
    out = {}
    for line in path.read_text().splitlines():
        if ":" in line and not line.startswith((" ", "#", "-")):
            key, _, value = line.partition(":")
            out[key.strip()] = value.strip().strip("'")
    return out


def pids(pid_file: Path) -> set[int]:
    """The live processes of the group a lab pid file names."""
    pgid = int(pid_file.read_text())
    out = subprocess.run(["ps", "-e", "-o", "pid=,pgid=,stat="], capture_output=True, text=True).stdout
    return {int(p) for p, g, s in (line.split() for line in out.splitlines()) if int(g) == pgid and s[0] != "Z"}


def salt_dir(inv) -> Path:
    return Path(inv.lab_dir) / "salt"


def test_inventory_and_the_master_never_auto_accepts(salt_lab):
    salt = salt_lab.salt
    assert "salt" in salt_lab.components
    assert salt.api_url.startswith("https://") and Path(salt.ca_file).is_file() and salt.eauth == "file"
    assert [m.id for m in salt.minions] == [h.name for h in salt_lab.hosts]
    master = conf(salt_dir(salt_lab) / "master" / "master")
    assert master["auto_accept"] == "False" and master["open_mode"] == "False"
    assert master["interface"] == salt_lab.network["gateway"] == salt.master["address"]
    # the fingerprint minions pin is the master key's (master_finger form)
    assert salt.master["fingerprint"] == pem_body_fingerprint(salt.master["public_key"])
    for minion in salt.minions:
        mconf = conf(Path(minion.config_file))
        assert mconf["master_finger"] == salt.master["fingerprint"]
        assert mconf["id"] == minion.id and mconf["master"] == salt.master["address"]
        assert minion.key_fingerprint and minion.key_fingerprint_pem_body


def test_the_api_password_lives_only_in_mode_600_files(salt_lab):
    salt = salt_lab.salt
    _, password = salt.credentials()
    api_dir = salt_dir(salt_lab) / "api"
    for name in ("credentials", "eauth", "tls.key"):
        assert stat.S_IMODE((api_dir / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE((salt_dir(salt_lab) / "master" / "master").stat().st_mode) == 0o600
    inventory = (Path(salt_lab.lab_dir) / "inventory.json").read_text()
    assert password not in inventory
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        assert password.encode() not in cmdline, f"password on the command line of pid {proc.name}"


def test_minions_run_inside_their_hosts_network_namespaces(salt_lab):
    for minion in salt_lab.salt.minions:
        host = salt_lab.host(minion.host)
        group = pids(Path(minion.config_dir) / "minion.pid")
        assert group, f"{minion.id}: no minion process"
        for pid in group:
            ns = subprocess.run(["ip", "netns", "identify", str(pid)], capture_output=True, text=True).stdout.strip()
            assert ns == host.netns, (minion.id, pid, ns)


def test_a_minion_pinned_to_another_master_key_refuses_the_master(salt_lab):
    """master_finger: once its key is accepted, a minion whose pinned fingerprint is not the
    master's stops instead of taking orders from it."""
    salt, master_dir = salt_lab.salt, salt_dir(salt_lab) / "master"
    right = salt.master["fingerprint"]
    wrong = right[:-2] + ("00" if not right.endswith("00") else "11")
    short = Path(tempfile.mkdtemp(prefix="aimx-sm-", dir="/tmp"))  # unix socket paths stay short
    minion_id = f"rogue-{os.getpid()}"
    (short / "minion").write_text(
        f"id: {minion_id}\nroot_dir: {short}/root\nuser: root\nmaster: {salt.master['address']}\n"
        f"master_port: {salt.master['ret_port']}\npublish_port: {salt.master['publish_port']}\n"
        f"master_finger: '{wrong}'\nhash_type: sha256\nacceptance_wait_time: 1\n"
        f"acceptance_wait_time_max: 1\nrandom_reauth_delay: 0\n")
    proc = subprocess.Popen([str(SALT_BIN / "salt-minion"), "-c", str(short), "-l", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while minion_id not in key_lists(master_dir).get("minions_pre", []):
            assert time.monotonic() < deadline and proc.poll() is None, "the key never reached the master"
            time.sleep(0.3)
        subprocess.run([str(SALT_KEY), "-c", str(master_dir), "-y", "-a", minion_id], check=True,
                       capture_output=True, timeout=60)
        proc.wait(timeout=30)  # it stops (its worker exits 42; the parent then ends with 0)
        assert "Does not match the authenticating master's key" in proc.stdout.read().decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        subprocess.run([str(SALT_KEY), "-c", str(master_dir), "-y", "-d", minion_id], capture_output=True,
                       timeout=60)
        shutil.rmtree(short, ignore_errors=True)


def test_status_and_a_second_up_change_nothing(salt_lab, lab_settings):
    sdir = salt_dir(salt_lab)
    files = [sdir / "master" / "master.pid", sdir / "api" / "api.pid",
             *(Path(m.config_dir) / "minion.pid" for m in salt_lab.salt.minions)]
    before = {f: f.read_text() for f in files}
    env = lab.lab_env(**lab_settings)
    subprocess.run([str(ROOT / "scripts/lab/salt.sh"), "status"], env=env, check=True, capture_output=True)
    inv = lab.lab_up(("salt",), **lab_settings)
    assert {f: f.read_text() for f in files} == before
    assert inv.salt.master["fingerprint"] == salt_lab.salt.master["fingerprint"]


def test_down_stops_only_its_own_processes_and_up_restores_the_keys(salt_lab, lab_settings):
    sdir = salt_dir(salt_lab)
    pid_files = [sdir / "master" / "master.pid", sdir / "api" / "api.pid",
                 *(Path(m.config_dir) / "minion.pid" for m in salt_lab.salt.minions)]
    ours = set().union(*(pids(f) for f in pid_files))
    sshds = {int((Path(salt_lab.lab_dir) / "hosts" / h.name / "sshd.pid").read_text()) for h in salt_lab.hosts}
    keys_before = key_lists(sdir / "master")

    lab.lab_down(("salt",), **lab_settings)
    alive = {p for p in ours if Path(f"/proc/{p}").exists() and
             Path(f"/proc/{p}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"}
    assert not alive, f"still running after down: {alive}"
    assert all(Path(f"/proc/{p}").exists() for p in sshds)  # the lab hosts are untouched
    assert "salt" not in json.loads((Path(salt_lab.lab_dir) / "inventory.json").read_text())["components"]

    inv = lab.lab_up(("salt",), **lab_settings)
    keys_after = key_lists(sdir / "master")
    assert keys_after == keys_before  # accepted stay accepted, pending stay pending
    assert inv.salt.master["fingerprint"] == salt_lab.salt.master["fingerprint"]
