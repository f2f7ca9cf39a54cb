"""The agent (a real process) against the running portal (daphne on the test database): it enrolls
with a one-time token, pushes what the lab's simulated nvidia-smi shows, and stops, saying so,
once its credential is revoked. From a lab host's namespace: test_lab_gpus.py."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
LAB_GPUS = ROOT / "scripts" / "lab" / "gpus"


def run_agent(url: str, workdir: Path, *extra, gpu_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{LAB_GPUS}:{os.environ['PATH']}", "AIMATRIX_LAB_GPU_DIR": str(gpu_dir)}
    return subprocess.run(
        [sys.executable, "-m", "aimatrix_agent", "--url", url, "--token-file", str(workdir / "token"),
         "--buffer-dir", str(workdir / "buffer"), "--gpu-source", "nvidia-smi", "--once", *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_agent_enrolls_pushes_and_stops_when_revoked(live_server_url, root, tmp_path):
    from apps.gpus import agent_auth
    from apps.gpus.models import Gpu, GpuSample, NodeCredential, NodeSample
    from apps.keyvault import onetime
    from apps.nodes import services as nodes

    node = nodes.create_node(root, name="e2e-gpu-node", address="10.0.0.61")
    _row, token = onetime.issue_token(root, agent_auth.PURPOSE, node.name)
    (tmp_path / "token").write_text(token + "\n")
    gpu_dir = tmp_path / "e2e-gpu-node" / "gpus"
    gpu_dir.mkdir(parents=True)

    first = run_agent(live_server_url, tmp_path, gpu_dir=gpu_dir)
    assert first.returncode == 0, first.stderr
    assert "enrolled as node e2e-gpu-node" in first.stderr and token not in first.stderr
    credential = (tmp_path / "token").read_text().strip()
    assert credential.startswith("anc1.") and oct((tmp_path / "token").stat().st_mode & 0o777) == "0o600"
    gpus = Gpu.objects.filter(node=node)
    assert 2 <= gpus.count() <= 8
    assert GpuSample.objects.filter(gpu__in=gpus).count() == gpus.count()
    assert NodeSample.objects.filter(node=node).count() == 1

    second = run_agent(live_server_url, tmp_path, gpu_dir=gpu_dir)  # the credential now, no enrollment
    assert second.returncode == 0, second.stderr
    assert NodeSample.objects.filter(node=node).count() == 2

    agent_auth.revoke_credential(root, NodeCredential.objects.get(node=node), "e2e")
    third = run_agent(live_server_url, tmp_path, gpu_dir=gpu_dir)
    assert third.returncode == 77, third.stderr
    assert "refused this node's credential (HTTP 401)" in third.stderr and "revoked" in third.stderr
    assert NodeSample.objects.filter(node=node).count() == 2
    assert len(list((tmp_path / "buffer").glob("batch-*.json"))) == 1  # kept, not thrown away
