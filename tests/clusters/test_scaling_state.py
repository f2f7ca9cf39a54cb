"""The repository's Salt state slurm.node with the portal's pillar, applied by a real salt-call
(--local, file_roots = salt/states, pillar_roots = what scaling_pillar writes): the munge key is
written from pillar with mode 0400, the files and slurmd step follow the pillar, a second run
changes nothing, the key never shows in the state's return; `present: false` stops slurmd.
Plus the pillar files themselves (mode 600, top.sls per minion id, gone after the run)."""
from __future__ import annotations

import base64
import json
import stat
import subprocess
from pathlib import Path

import pytest

from apps.clusters import scaling_jobs, scaling_pillar

ROOT = Path(__file__).resolve().parents[2]
SALT_CALL = ROOT / "var" / "salt-venv" / "bin" / "salt-call"
KEY = bytes(range(256)) * 4  # 1024 bytes, like mungekey's


@pytest.fixture
def local_salt(tmp_path, settings):
    if not SALT_CALL.exists():
        pytest.skip("no Salt virtualenv (scripts/install.sh test creates var/salt-venv)")
    out, pillar = tmp_path / "out", tmp_path / "pillar"
    out.mkdir()
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "minion").write_text(
        f"id: node-a\nroot_dir: {tmp_path / 'root'}\nfile_client: local\n"
        f"file_roots:\n  base:\n    - {ROOT / 'salt' / 'states'}\npillar_roots:\n  base:\n    - {pillar}\n")
    settings.SALT_PILLAR_DIR = str(pillar)
    settings.SLURM_NODE_PILLAR = {"lab": {
        "install_packages": False,
        "munge": {"key_path": str(out / "munge" / "munge.key"), "user": "no-such-user-here", "service": ""},
        "slurmd": {"start_argv": ["touch", str(out / "slurmd-{node}")],
                   "status_argv": ["test", "-e", str(out / "slurmd-{node}")],
                   "stop_argv": ["rm", "-f", str(out / "slurmd-{node}")]}}}

    def apply(present=True):
        p = scaling_pillar.node_pillar("lab", "n1", present=present, munge_key=KEY if present else None,
                                       slurm_conf="ClusterName=lab\n" if present else None,
                                       gres_conf="" if present else None,
                                       conf_path=str(out / "slurm.conf"), gres_path=str(out / "gres.conf"))
        with scaling_pillar.pillar_for({"node-a": p}):
            run = subprocess.run([str(SALT_CALL), "-c", str(tmp_path / "conf"), "--local", "--out=json",
                                  "state.apply", "slurm.node"], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        return run.stdout, json.loads(run.stdout)["local"]

    return out, pillar, apply


def test_node_state_writes_key_from_pillar_and_is_idempotent(local_salt):
    out, pillar, apply = local_salt
    text, first = apply()
    assert all(v["result"] is True for v in first.values()), first
    key = out / "munge" / "munge.key"
    assert key.read_bytes() == KEY
    assert stat.S_IMODE(key.stat().st_mode) == 0o400 and key.stat().st_uid == 0  # no munge user: root
    assert (out / "slurm.conf").read_text() == "ClusterName=lab\n" and (out / "slurmd-n1").exists()
    # the key is nowhere in what the state returns (file.decode reports hashes)
    assert base64.b64encode(KEY).decode() not in text and KEY[:64].hex() not in text
    # the pillar was there only for the run
    assert not list((pillar / scaling_pillar.PILLAR_SUBDIR).glob("*.sls"))
    _, second = apply()
    assert {v["__id__"]: v["changes"] for v in second.values() if v["changes"]} == {}
    _, stopped = apply(present=False)
    assert [v["__id__"] for v in stopped.values()] == ["slurmd-stopped"] and not (out / "slurmd-n1").exists()


def test_pillar_files_private_and_given_to_their_minion_only(tmp_path, settings):
    settings.SALT_PILLAR_DIR = str(tmp_path / "p")
    settings.SLURM_NODE_PILLAR = {}
    a = scaling_pillar.node_pillar("c1", "n1", present=True, munge_key=b"k" * 32, slurm_conf="x\n", gres_conf="",
                                   conf_path="/etc/slurm/slurm.conf", gres_path="/etc/slurm/gres.conf")
    assert a["slurm"]["munge"]["key_b64"] == base64.b64encode(b"k" * 32).decode()
    assert a["slurm"]["install_packages"] is True and a["slurm"]["slurmd"] == {"service": "slurmd"}
    with scaling_pillar.pillar_for({"node.a": a, "node-b": a}):
        files = sorted((tmp_path / "p" / scaling_pillar.PILLAR_SUBDIR).glob("*.sls"))
        assert len(files) == 2 and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
        top = (tmp_path / "p" / "top.sls").read_text()
        assert stat.S_IMODE((tmp_path / "p" / "top.sls").stat().st_mode) == 0o600
        assert f"node.a:\n  - {scaling_pillar.PILLAR_SUBDIR}.{scaling_pillar.sls_name('node.a')}" in top
        assert "node-b:" in top and "'*'" not in top
    assert not list((tmp_path / "p" / scaling_pillar.PILLAR_SUBDIR).glob("*.sls"))
    assert "node" not in (tmp_path / "p" / "top.sls").read_text().split("\n", 1)[1]


def test_lab_style_commands_and_overrides(settings):
    settings.SLURM_NODE_PILLAR = {"*": {"install_packages": False},
                                  "lab": {"slurmd": {"start_argv": ["/x/lab ctl", "slurmd-start", "{node}"]}}}
    p = scaling_pillar.node_pillar("lab", "lab-node2", present=True, munge_key=None, slurm_conf=None,
                                   gres_conf=None, conf_path="/c", gres_path="/g")["slurm"]
    assert p["slurmd"]["start_cmd"] == "'/x/lab ctl' slurmd-start lab-node2"
    assert p["install_packages"] is False and p["munge"]["manage"] is False and "key_b64" not in p["munge"]
    other = scaling_pillar.node_pillar("other", "n", present=True, munge_key=None, slurm_conf=None,
                                       gres_conf=None, conf_path="/c", gres_path="/g")["slurm"]
    assert "start_cmd" not in other["slurmd"] and other["install_packages"] is False


def test_state_summary():
    ok = {"file_|-a_|-/x_|-managed": {"result": True, "changes": {"diff": "x"}, "__id__": "a"},
          "cmd_|-b_|-y_|-run": {"result": True, "changes": {}, "__id__": "b"}}
    assert scaling_jobs.state_summary(ok) == (True, "2 state(s) ok, 1 changed")
    bad = {**ok, "service_|-slurmd_|-slurmd_|-running": {"result": False, "comment": "slurmd failed to start",
                                                         "__id__": "slurmd-running", "changes": {}}}
    assert scaling_jobs.state_summary(bad) == (False, "slurmd-running: slurmd failed to start")
    assert scaling_jobs.state_summary(["Rendering SLS 'base:slurm.node' failed"])[0] is False


def test_real_host_pillar_renders_packages_services_and_watches(local_salt, settings, tmp_path):
    """The defaults (no lab overrides): packages installed, munge and slurmd as services that
    restart when the key or slurm.conf change (rendered only: nothing is installed here)."""
    settings.SLURM_NODE_PILLAR = {}
    p = scaling_pillar.node_pillar("prod", "gpu-01", present=True, munge_key=KEY, slurm_conf="ClusterName=prod\n",
                                   gres_conf="", conf_path="/etc/slurm/slurm.conf", gres_path="/etc/slurm/gres.conf")
    with scaling_pillar.pillar_for({"node-a": p}):
        run = subprocess.run([str(SALT_CALL), "-c", str(tmp_path / "conf"), "--local", "--out=json",
                              "state.show_sls", "slurm.node"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert base64.b64encode(KEY).decode() not in run.stdout  # rendered states name the pillar key, not the value
    low = json.loads(run.stdout)["local"]
    assert low["slurm-packages"]["pkg"][0]["pkgs"] == ["slurmd", "munge"]
    assert {"name": "/etc/munge/munge.key"} in low["munge-key"]["file"]
    assert {"contents_pillar": "slurm:munge:key_b64"} in low["munge-key"]["file"]
    assert {"watch": [{"file": "munge-key"}]} in low["munge-running"]["service"]
    slurmd = low["slurmd-running"]["service"]
    assert "running" in slurmd and {"name": "slurmd"} in slurmd
    assert {"watch": [{"file": "slurm-conf"}, {"file": "munge-key"}]} in slurmd
