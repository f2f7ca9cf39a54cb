"""Lab fixtures shared by the Salt enrollment and batch install tests: the portal on daphne
reachable from the lab's namespaces, and the lab's Salt master registered in the portal."""
from __future__ import annotations

import os
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
