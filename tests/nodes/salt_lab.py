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
    """The lab's Salt master in the portal, as `make lab` registers it."""
    from apps.nodes.lab_salt import register_master

    return register_master(fleet["admin"], salt_lab)


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
