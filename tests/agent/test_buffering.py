"""The agent's loop with real GPU reads (the lab's simulated nvidia-smi, run as a process) against a
small HTTP server standing in for the portal: buffering while it is down, draining in order when
it is back, the size cap, a refused batch, a revoked credential. The real portal: test_agent_e2e."""
from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from aimatrix_agent import agent as agent_mod
from aimatrix_agent import push
from aimatrix_agent.buffer import DiskBuffer
from aimatrix_agent.procfs import NodeSampler
from aimatrix_agent.smi_source import SmiSource

ROOT = Path(__file__).resolve().parents[2]
LAB_GPUS = ROOT / "scripts" / "lab" / "gpus"


class Portal:
    """Records each POST (path, Authorization, JSON body); answers `statuses` in turn, then 201."""

    def __init__(self, port: int):
        self.port = port
        self.received: list[tuple[str, str, dict]] = []
        self.statuses: list[int] = []
        self.server = None

    def start(self):
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = portal.statuses.pop(0) if portal.statuses else 201
                if status < 300:
                    portal.received.append((self.path, self.headers.get("Authorization", ""), body))
                payload = json.dumps({"detail": "refused"} if status >= 400 else {"ok": True}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def lab_gpu_env(tmp_path, monkeypatch):
    """This process reads GPUs through the lab's simulated nvidia-smi of a host called agent-test."""
    gpu_dir = tmp_path / "agent-test" / "gpus"
    gpu_dir.mkdir(parents=True)
    monkeypatch.setenv("PATH", f"{LAB_GPUS}:{os.environ['PATH']}")
    monkeypatch.setenv("AIMATRIX_LAB_GPU_DIR", str(gpu_dir))
    return gpu_dir


def make_agent(url, buffer_dir, max_bytes=50 * 1024 * 1024):
    buffer = DiskBuffer(str(buffer_dir), max_bytes)
    source = SmiSource(state_dir=str(buffer_dir)).open()
    return agent_mod.Agent(url, "anc1.test.secret", buffer, source, NodeSampler(), deadline_s=5)


def test_portal_down_buffers_then_drains_in_order(lab_gpu_env, tmp_path):
    portal = Portal(free_port())
    agent = make_agent(portal.url, tmp_path / "buffer")
    # Portal down: every batch is kept, none lost.
    assert [agent.cycle() for _ in range(3)] == [(0, 1), (0, 2), (0, 3)]
    stored = [json.loads(Path(p).read_text()) for p in agent.buffer.pending()]
    assert len(stored) == 3
    portal.start()
    try:
        delivered, left = agent.cycle()
    finally:
        portal.stop()
    assert (delivered, left) == (4, 0) and agent.buffer.pending() == []
    sent = [body for _path, _auth, body in portal.received]
    # In collection order, each exactly once: the three buffered, then the new one.
    assert [b["collected_at"] for b in sent[:3]] == [b["collected_at"] for b in stored]
    assert len({b["collected_at"] for b in sent}) == 4
    assert sorted(b["collected_at"] for b in sent) == [b["collected_at"] for b in sent]
    assert {auth for _p, auth, _b in portal.received} == {"Bearer anc1.test.secret"}
    assert {path for path, _a, _b in portal.received} == {"/api/v1/telemetry/"}
    assert agent.counts == {"collected": 4, "delivered": 4, "rejected": 0}
    first = sent[0]
    assert first["source"] == "agent" and 2 <= len(first["inventory"]) <= 8
    assert {s["uuid"] for s in first["gpu_samples"]} == {g["uuid"] for g in first["inventory"]}
    assert first["node_samples"][0]["memory_total_bytes"] > 0


def test_buffer_survives_a_restart_of_the_agent(lab_gpu_env, tmp_path):
    portal = Portal(free_port())
    make_agent(portal.url, tmp_path / "buffer").cycle()
    make_agent(portal.url, tmp_path / "buffer").cycle()  # a new process finds the old batch
    portal.start()
    try:
        later = make_agent(portal.url, tmp_path / "buffer")
        assert later.drain() == (2, 0)
    finally:
        portal.stop()
    stamps = [b["collected_at"] for _p, _a, b in portal.received]
    assert len(stamps) == 2 and stamps == sorted(stamps)


def test_size_cap_drops_the_oldest_and_counts(tmp_path, caplog):
    batch = {"version": 1, "gpu_samples": [{"uuid": "GPU-x", "ts": "t", "power_w": 1.0}] * 20}
    size = len(json.dumps(batch, separators=(",", ":")))
    buffer = DiskBuffer(str(tmp_path / "b"), max_bytes=int(size * 2.5))
    with caplog.at_level(logging.WARNING, logger="aimatrix_agent.buffer"):
        paths = [buffer.put({**batch, "n": n}) for n in range(5)]
    left = buffer.pending()
    assert [json.loads(Path(p).read_text())["n"] for p in left] == [3, 4]  # the newest stay
    assert left == paths[3:]
    assert buffer.dropped == 3 and buffer.size() <= size * 2.5
    assert "dropped the 1 oldest batch(es) (3 dropped since start)" in caplog.text


def test_refused_batch_is_dropped_and_does_not_block_the_rest(lab_gpu_env, tmp_path):
    portal = Portal(free_port())
    agent = make_agent(portal.url, tmp_path / "buffer")
    agent.cycle()
    agent.cycle()
    portal.statuses = [400]
    portal.start()
    try:
        assert agent.drain() == (1, 0)
    finally:
        portal.stop()
    assert agent.counts["rejected"] == 1 and len(portal.received) == 1


def test_portal_error_keeps_the_batch_for_later(lab_gpu_env, tmp_path):
    portal = Portal(free_port())
    agent = make_agent(portal.url, tmp_path / "buffer")
    portal.statuses = [503]
    portal.start()
    try:
        assert agent.cycle() == (0, 1)
        assert agent.drain() == (1, 0)
    finally:
        portal.stop()
    assert len(portal.received) == 1


def test_revoked_credential_stops_the_agent(lab_gpu_env, tmp_path):
    portal = Portal(free_port())
    agent = make_agent(portal.url, tmp_path / "buffer")
    portal.statuses = [401]
    portal.start()
    try:
        with pytest.raises(agent_mod.CredentialRevoked, match="revoked"):
            agent.cycle()
    finally:
        portal.stop()
    assert len(agent.buffer.pending()) == 1  # nothing thrown away


def test_agent_process_says_the_credential_was_revoked(lab_gpu_env, tmp_path):
    portal = Portal(free_port())
    portal.statuses = [401]
    token = tmp_path / "token"
    token.write_text("anc1.abc.def\n")
    portal.start()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "aimatrix_agent", "--url", portal.url, "--token-file", str(token),
             "--buffer-dir", str(tmp_path / "buffer"), "--gpu-source", "nvidia-smi", "--once"],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
    finally:
        portal.stop()
    assert result.returncode == 77, result.stderr
    assert "refused this node's credential (HTTP 401)" in result.stderr
    assert "it was revoked" in result.stderr


def test_no_gpu_source_exits_with_a_clear_message(tmp_path):
    token = tmp_path / "token"
    token.write_text("anc1.abc.def\n")
    result = subprocess.run(
        [sys.executable, "-m", "aimatrix_agent", "--url", "http://127.0.0.1:9", "--token-file", str(token),
         "--buffer-dir", str(tmp_path / "buffer"), "--gpu-source", "nvidia-smi", "--once"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "PATH": "/nonexistent"})
    assert result.returncode == 69
    assert "no way to read GPUs on this machine" in result.stderr and "nvidia-smi is not on PATH" in result.stderr


def test_request_deadline_is_wall_clock(tmp_path):
    """A server that accepts and never answers: the request ends at its deadline, as Unreachable."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        with pytest.raises(push.Unreachable, match="no complete answer within 1 s"):
            push.post_json(f"http://127.0.0.1:{listener.getsockname()[1]}/x", b"{}", deadline_s=1)
    finally:
        listener.close()


def test_xid_from_the_kernel_log_is_reported_once(lab_gpu_env, tmp_path):
    (lab_gpu_env / "control.json").write_text(json.dumps(
        {"xids": [{"gpu": 1, "xid": 79, "message": "GPU has fallen off the bus."}]}))
    source = SmiSource(state_dir=str(tmp_path)).open()
    inventory, _samples = source.read("2026-11-30T08:00:00Z")
    events = source.events("2026-11-30T08:00:00Z")
    gpu1 = next(g for g in inventory if g["index"] == 1)
    assert events == [{"uuid": gpu1["uuid"], "ts": "2026-11-30T08:00:00Z", "kind": "xid", "xid": 79,
                       "message": "GPU has fallen off the bus."}]
    assert source.events("2026-11-30T08:00:30Z") == []
    # A restarted agent remembers what it reported (state file next to the buffer).
    again = SmiSource(state_dir=str(tmp_path)).open()
    again.read("2026-11-30T08:01:00Z")
    assert again.events("2026-11-30T08:01:00Z") == []


def test_https_portal_with_its_own_ca(tmp_path):
    """TLS is verified: a portal whose certificate the agent cannot check is unreachable, not trusted."""
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    portal = Portal(free_port()).start()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    portal.server.socket = context.wrap_socket(portal.server.socket, server_side=True)
    url = f"https://127.0.0.1:{portal.port}/api/v1/telemetry/"
    try:
        with pytest.raises(push.Unreachable, match="CERTIFICATE_VERIFY_FAILED"):
            push.post_json(url, b"{}", token="anc1.a.b", deadline_s=5)
        answer = push.post_json(url, b'{"version": 1}', token="anc1.a.b", deadline_s=5, ca_file=str(cert))
    finally:
        portal.stop()
    assert answer.status == 201
    assert portal.received == [("/api/v1/telemetry/", "Bearer anc1.a.b", {"version": 1})]
