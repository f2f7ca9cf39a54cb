"""The collection loop: read GPUs and /proc, buffer the batch, push everything buffered in order."""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import time

from . import push
from .buffer import DiskBuffer
from .nvml_source import NvmlSource, NvmlUnavailable
from .procfs import NodeSampler
from .smi_source import SmiSource, SmiUnavailable

logger = logging.getLogger("aimatrix_agent")
TELEMETRY_PATH = "/api/v1/telemetry/"
ENROLL_PATH = "/api/v1/agent/enroll/"
ENROLLMENT_PREFIX = "kv1."  # a one-time token of the key vault, not yet exchanged


class NoGpuSource(RuntimeError):
    """Neither NVML nor nvidia-smi: nothing to collect."""


class CredentialRevoked(RuntimeError):
    """The portal refused the node credential (401/403)."""


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def open_gpu_source(state_dir: str, prefer: str = "auto"):
    """NVML first; nvidia-smi when NVML is missing; NoGpuSource when neither is there."""
    reasons = []
    if prefer in ("auto", "nvml"):
        try:
            return NvmlSource().open()
        except NvmlUnavailable as exc:
            reasons.append(f"NVML: {exc}")
    if prefer in ("auto", "nvidia-smi"):
        try:
            return SmiSource(state_dir=state_dir).open()
        except SmiUnavailable as exc:
            reasons.append(f"nvidia-smi: {exc}")
    raise NoGpuSource("no way to read GPUs on this machine (" + "; ".join(reasons) + "). Install the NVIDIA "
                      "driver (it brings libnvidia-ml and nvidia-smi) or run the agent on a GPU node.")


# --- credential ----------------------------------------------------------------------------
def read_token(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        token = handle.read().strip()
    if not token:
        raise ValueError(f"{path} is empty: put the enrollment token from the node page in it")
    return token


def write_token(path: str, token: str) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (token + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def enroll(base_url: str, token_file: str, deadline_s: float = 30.0, ca_file: str | None = None) -> str:
    """Exchange the one-time enrollment token in `token_file` for the node credential, once.

    The credential replaces the token in the file (mode 600); it is never printed.
    """
    token = read_token(token_file)
    if not token.startswith(ENROLLMENT_PREFIX):
        return token  # already a node credential
    body = json.dumps({"token": token, "timestamp": int(time.time()), "hostname": socket.gethostname()}).encode()
    answer = push.post_json(base_url.rstrip("/") + ENROLL_PATH, body, deadline_s=deadline_s, ca_file=ca_file)
    if answer.status != 200 and answer.status != 201:
        raise CredentialRevoked(f"enrollment refused ({answer.status}): {answer.detail()}")
    credential = (answer.json() or {}).get("credential")
    if not isinstance(credential, str) or not credential:
        raise CredentialRevoked("enrollment answer carried no credential")
    write_token(token_file, credential)
    node = (answer.json() or {}).get("node") or {}
    logger.info("enrolled as node %s; the node credential is in %s", node.get("name", "?"), token_file)
    return credential


# --- the loop ------------------------------------------------------------------------------
class Agent:
    def __init__(self, url: str, credential: str, buffer: DiskBuffer, gpu_source, node_sampler: NodeSampler,
                 *, deadline_s: float = 30.0, hostname: str | None = None, ca_file: str | None = None):
        self.url = url.rstrip("/") + TELEMETRY_PATH
        self.credential = credential
        self.buffer = buffer
        self.gpus = gpu_source
        self.node = node_sampler
        self.deadline_s = deadline_s
        self.ca_file = ca_file
        self.hostname = hostname or socket.gethostname()
        self.counts = {"collected": 0, "delivered": 0, "rejected": 0}

    def collect(self) -> dict:
        ts = utc_now()
        inventory, gpu_samples = self.gpus.read(ts)
        events = self.gpus.events(ts)
        record = {"version": 1, "source": "agent", "collected_at": ts, "hostname": self.hostname[:200],
                  "inventory": inventory, "gpu_samples": gpu_samples,
                  "node_samples": [self.node.sample(ts)], "events": events}
        self.counts["collected"] += 1
        return record

    def drain(self) -> tuple[int, int]:
        """Send buffered batches oldest first; stop at the first that cannot be delivered now.

        Returns (delivered, still buffered). Raises CredentialRevoked on 401/403.
        """
        delivered = 0
        pending = self.buffer.pending()
        for number, path in enumerate(pending):
            try:
                answer = push.post_json(self.url, self.buffer.load(path), token=self.credential,
                                        deadline_s=self.deadline_s, ca_file=self.ca_file)
            except push.Unreachable as exc:
                left = len(pending) - number
                logger.warning("portal unreachable (%s): %d batch(es) kept in %s", exc, left, self.buffer.directory)
                return delivered, left
            if answer.status in (401, 403):
                raise CredentialRevoked(
                    f"the portal refused this node's credential (HTTP {answer.status}): it was revoked or is "
                    "wrong. Get a new enrollment token from the node page, put it in the token file and "
                    f"start the agent again. {len(pending) - number} batch(es) stay in {self.buffer.directory}.")
            if answer.status in (429,) or answer.status >= 500:
                left = len(pending) - number
                logger.warning("portal answered %s: %d batch(es) kept for the next try", answer.status, left)
                return delivered, left
            if 200 <= answer.status < 300:
                delivered += 1
                self.counts["delivered"] += 1
            else:  # 400/413/422: this batch will never be accepted; keeping it would block the rest
                self.counts["rejected"] += 1
                logger.error("portal refused batch %s (HTTP %s): %s; dropped", os.path.basename(path),
                             answer.status, answer.detail())
            self.buffer.remove(path)
        if delivered > 1:
            logger.info("delivered %d buffered batch(es) in order", delivered)
        return delivered, 0

    def cycle(self) -> tuple[int, int]:
        self.buffer.put(self.collect())
        return self.drain()

    def run(self, interval: float, stop=None) -> None:
        next_at = time.monotonic()
        while stop is None or not stop.is_set():
            try:
                self.cycle()
            except CredentialRevoked:
                raise
            except Exception:  # a broken read must not end the agent; it tries again next interval
                logger.exception("collection cycle failed")
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < 0:
                next_at, delay = time.monotonic(), 0
            if stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)
