"""Lab fixtures shared by the Salt enrollment and batch install tests: the portal on daphne
reachable from the lab's namespaces, the lab's Salt master registered in the portal, and how a
minion a test started is stopped."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from devtools import processes as base
from tests import processes

ROOT = Path(__file__).resolve().parents[2]
SALT_MINION = Path(os.environ.get("LAB_SALT_VENV") or ROOT / "var/salt-venv") / "bin" / "salt-minion"


@pytest.fixture
def portal(lab_inventory, transactional_db):
    """daphne on the test database, reachable from the lab's namespaces (the bridge address)."""
    gateway = lab_inventory.network.get("gateway") or "127.0.0.1"
    env = processes.child_env(AIMATRIX_ALLOWED_HOSTS=f"localhost,127.0.0.1,{gateway}")
    proc, url = base.start_daphne("lab-salt-enroll-daphne", env, processes.LOG_DIR, host="0.0.0.0")
    yield f"http://{gateway}:{url.rsplit(':', 1)[1]}"
    proc.stop()


@pytest.fixture
def master(salt_lab, fleet):
    from apps.keyvault.services import create_secret
    from apps.nodes.salt_masters import create_master
    from urllib.parse import urlsplit

    salt = salt_lab.salt
    user, password = salt.credentials()
    host = urlsplit(salt.api_url).hostname
    credential = create_secret(fleet["admin"], name="lab-salt-api", kind="bmc_credentials",
                               value=f"{user}:{password}", destinations=[f"{host}/32"])
    m = salt.master
    return create_master(fleet["admin"], name="lab", api_url=salt.api_url, eauth=salt.eauth, credential=credential,
                         ca_certificate=salt.ca_file, master_address=f"{m['address']}:{m['ret_port']}",
                         public_key=m["public_key"], fingerprint=m["fingerprint"])


def stop_minion(root: Path) -> None:
    """SIGTERM to the minion this test started (its pid file), then wait until it is gone: on its
    way out it still writes into its configuration directory."""
    pid_file = root / "var" / "run" / "salt-minion.pid"
    if not pid_file.exists():
        return
    try:
        pgid = os.getpgid(int(pid_file.read_text().strip()))
        os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            os.killpg(pgid, 0)
            time.sleep(0.2)
    except (ProcessLookupError, ValueError):
        pass
