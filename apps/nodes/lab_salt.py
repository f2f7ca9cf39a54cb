"""The lab's Salt in the portal (scripts/lab/salt.sh, `make lab`): its master registered with the
salt-api password in the key vault (it may go only to the salt-api address), and where a batch
install finds a minion on the lab hosts. Shared by `manage.py lab_register`, `lab_settings`, the
Salt benchmark and the lab tests. Idempotent."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from apps.keyvault.services import put_secret

from .salt_masters import create_master, update_master
from .salt_models import SaltMaster

MASTER_NAME = "lab"
CREDENTIAL_NAME = "lab-salt-api"
# Batch-installed minions on lab hosts: the lab's own minion already runs under the host's name,
# so these get their own short dirs (Salt's unix sockets) per minion id.
MINION_DIRS = "/run/aimx-lab-minions/{minion_id}"


def register_master(actor, inv) -> SaltMaster:
    salt = inv.salt
    user, password = salt.credentials()
    destinations = [f"{urlsplit(salt.api_url).hostname}/32"]
    credential = put_secret(actor, name=CREDENTIAL_NAME, kind="bmc_credentials", value=f"{user}:{password}",
                            destinations=destinations)
    m = salt.master
    fields = {"api_url": salt.api_url, "eauth": salt.eauth, "credential": credential, "ca_certificate": salt.ca_file,
              "master_address": f"{m['address']}:{m['ret_port']}", "public_key": m["public_key"],
              "fingerprint": m["fingerprint"]}
    master = SaltMaster.objects.filter(name=MASTER_NAME).first()
    if master is None:
        return create_master(actor, name=MASTER_NAME, **fields)
    return update_master(actor, master, **fields)


def salt_minion_binary() -> Path:
    """The lab's salt-minion: the lab hosts share this machine's filesystem (as cluster nodes share
    an NFS software tree), so a batch install uses it where it is."""
    return Path(os.environ.get("LAB_SALT_VENV") or Path(settings.BASE_DIR) / "var" / "salt-venv") / "bin" / "salt-minion"


def minion_source(dirs: str = MINION_DIRS) -> dict:
    """settings.SALT_MINION_SOURCE for batch installs on the lab hosts."""
    return {"kind": "shared", "path": str(salt_minion_binary()), "config_dir": f"{dirs}/c", "root_dir": f"{dirs}/r"}
