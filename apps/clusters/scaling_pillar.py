"""Pillar for the repository's `slurm.node` state (salt/states/slurm/node.sls), written per minion.

Secrets reach minions ONLY through pillar: the portal reads the cluster's munge key from the vault
(a `munge_key` secret, its value base64 of the key file) and writes it, with the rendered
slurm.conf/gres.conf and how slurmd is run, into a per-minion file under the master's
pillar_roots (settings.SALT_PILLAR_DIR): `aimatrix_nodes/m_<hash of the minion id>.sls`, mode
0600, plus a `top.sls` that gives each such file to exactly that minion id (the id the master
authenticated, never a grain). The file exists only while the portal's state run needs it
(`pillar_for(...)` is a context manager that removes it again), so the key is at rest on the
master only for the seconds of the apply. It never becomes a command argument (the state reads
it with contents_pillar; salt-api calls carry `state.apply slurm.node` and nothing else: the
function policy refuses an inline `pillar=`), and never lands in a job return (file.decode
reports hashes).

Per-cluster differences (the lab runs slurmd through its control script, its munged as root)
come from settings.SLURM_NODE_PILLAR: {"*": {...}, "<cluster name>": {...}} merged over the
defaults below.
"""
from __future__ import annotations

import base64
import contextlib
import copy
import fcntl
import hashlib
import os
import shlex
from pathlib import Path

import yaml
from django.conf import settings

from apps.core.errors import InvalidInput

PILLAR_SUBDIR = "aimatrix_nodes"
TOP_BEGIN = "# --- aimatrix nodes (written by the portal; one entry per minion) ---"
DEFAULTS = {
    "install_packages": True,
    "packages": ["slurmd", "munge"],
    "munge": {"key_path": "/etc/munge/munge.key", "user": "munge", "service": "munge"},
    "slurmd": {"service": "slurmd"},
}


class PillarUnavailable(InvalidInput):
    """No pillar directory configured, or it cannot be written."""


def pillar_dir() -> Path:
    value = getattr(settings, "SALT_PILLAR_DIR", "") or ""
    if not value:
        raise PillarUnavailable({"salt": ["SALT_PILLAR_DIR is not set: the portal cannot hand a node its "
                                          "Slurm settings (the master's pillar_roots)."]})
    return Path(value)


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        out[key] = _merge(out.get(key) or {}, value) if isinstance(value, dict) else copy.deepcopy(value)
    return out


def cluster_settings(cluster_name: str) -> dict:
    table = getattr(settings, "SLURM_NODE_PILLAR", None) or {}
    return _merge(_merge(DEFAULTS, table.get("*") or {}), table.get(cluster_name) or {})


def _commands(slurmd: dict, node_name: str) -> dict:
    """argv lists ({node} replaced) become shell-quoted command lines for cmd.run."""
    out = {k: v for k, v in slurmd.items() if not k.endswith("_argv")}
    for what in ("start", "stop", "status"):
        argv = slurmd.get(f"{what}_argv")
        if argv:
            out[f"{what}_cmd"] = shlex.join(str(a).replace("{node}", node_name) for a in argv)
    return out


def node_pillar(cluster_name: str, node_name: str, *, present: bool, munge_key: bytes | None,
                slurm_conf: str | None, gres_conf: str | None, conf_path: str, gres_path: str) -> dict:
    """The `slurm` pillar of one node. `munge_key`: the key's bytes (None: not managed)."""
    conf = cluster_settings(cluster_name)
    munge = dict(conf.get("munge") or {})
    munge["manage"] = munge_key is not None
    if munge_key is not None:
        munge["key_b64"] = base64.b64encode(munge_key).decode()
    pillar = {
        "node": {"name": node_name, "present": bool(present)},
        "install_packages": bool(conf.get("install_packages")),
        "packages": list(conf.get("packages") or []),
        "munge": munge,
        "slurmd": _commands(dict(conf.get("slurmd") or {}), node_name),
        "conf_path": conf_path,
        "gres_path": gres_path,
    }
    if slurm_conf is not None:
        pillar["slurm_conf"] = slurm_conf
    if gres_conf is not None:
        pillar["gres_conf"] = gres_conf
    return {"slurm": pillar}


def sls_name(minion_id: str) -> str:
    return f"m_{hashlib.sha256(minion_id.encode()).hexdigest()[:20]}"


def _write_private(path: Path, text: str) -> None:
    """Created 0600 from the start (never readable by others, not even for a moment), then renamed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(directory: Path):
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / ".portal.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _rewrite_top(root: Path) -> None:
    """top.sls: each minion file present, for exactly its minion id (ids kept in the files' headers)."""
    entries = {}
    for path in sorted((root / PILLAR_SUBDIR).glob("m_*.sls")):
        first = path.read_text().split("\n", 1)[0]
        if first.startswith("# minion: "):
            entries[first[len("# minion: "):].strip()] = f"{PILLAR_SUBDIR}.{path.stem}"
    top = {"base": {minion: [sls] for minion, sls in sorted(entries.items())}} if entries else {"base": {}}
    _write_private(root / "top.sls", TOP_BEGIN + "\n" + yaml.safe_dump(top, default_flow_style=False))


def write(minion_id: str, pillar: dict) -> Path:
    root = pillar_dir()
    with _locked(root):
        (root / PILLAR_SUBDIR).mkdir(exist_ok=True, mode=0o700)
        path = root / PILLAR_SUBDIR / f"{sls_name(minion_id)}.sls"
        _write_private(path, f"# minion: {minion_id}\n" + yaml.safe_dump(pillar, default_flow_style=False))
        _rewrite_top(root)
    return path


def remove(minion_id: str) -> None:
    root = pillar_dir()
    with _locked(root):
        (root / PILLAR_SUBDIR / f"{sls_name(minion_id)}.sls").unlink(missing_ok=True)
        _rewrite_top(root)


@contextlib.contextmanager
def pillar_for(pillars: dict[str, dict]):
    """Write each minion's pillar for the duration of the block, remove it afterwards."""
    written = []
    try:
        for minion_id, pillar in pillars.items():
            write(minion_id, pillar)
            written.append(minion_id)
        yield
    finally:
        for minion_id in written:
            remove(minion_id)
