"""Scaling on the lab (scripts/lab/slurm.sh + salt.sh): what slurm.node needs there, shared by
`manage.py lab_register_clusters` / `lab_settings`, the Salt benchmark and the scaling tests.

The lab's hosts share this machine's filesystem and its munged (running as root, one key file
for every host), and slurmd is started and stopped through the lab's control script, not a
systemd unit: the pillar override says so. The munge key goes into the key vault (kind
munge_key, usable only towards the lab's hosts), from where scaling hands it to slurm.node's
pillar."""
from __future__ import annotations

import base64
from pathlib import Path

from apps.keyvault.models import Secret
from apps.keyvault.services import put_secret

MUNGE_SECRET = "lab-munge"


def munge_key_path(lab) -> Path:
    return Path(lab.munge_socket).parent.parent / "munge.key"


def node_pillar(lab) -> dict:
    """settings.SLURM_NODE_PILLAR for the lab's managed cluster."""
    control = lab.control["script"]
    return {lab.name: {
        "install_packages": False,  # Slurm is installed on the machine the lab hosts share
        "munge": {"key_path": str(munge_key_path(lab)), "user": "root", "service": ""},
        "slurmd": {"start_argv": [control, "slurmd-start", "{node}"],
                   "stop_argv": [control, "slurmd-stop", "{node}"],
                   "status_argv": [control, "slurmd-status", "{node}"]}}}


def register_munge(actor, lab, destinations: list[str]) -> Secret:
    return put_secret(actor, name=MUNGE_SECRET, kind="munge_key",
                      value=base64.b64encode(munge_key_path(lab).read_bytes()).decode(), destinations=destinations)
