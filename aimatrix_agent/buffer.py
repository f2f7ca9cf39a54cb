"""Batches waiting for the portal, on disk: one file per batch, oldest first.

Every batch goes through the buffer (written and fsynced before the first send), so a crash or a
portal outage between collecting and delivering loses nothing. File names carry a sequence
number, so the order survives restarts. Past `max_bytes` the oldest batches are dropped and the
drop is counted and logged: on a long outage the newest data matters most.
"""
from __future__ import annotations

import json
import logging
import os
import re

logger = logging.getLogger(__name__)
_NAME = re.compile(r"^batch-(\d{12})\.json$")


class DiskBuffer:
    def __init__(self, directory: str, max_bytes: int = 256 * 1024 * 1024):
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.directory = directory
        self.max_bytes = max_bytes
        self.dropped = 0  # batches dropped for the size cap since start
        os.makedirs(directory, mode=0o700, exist_ok=True)
        for name in os.listdir(directory):  # a write interrupted by a crash
            if name.endswith(".tmp"):
                os.unlink(os.path.join(directory, name))
        existing = self._sequences()
        self._next = (existing[-1] + 1) if existing else 1

    def _sequences(self) -> list[int]:
        return sorted(int(m[1]) for m in map(_NAME.match, os.listdir(self.directory)) if m)

    def _path(self, sequence: int) -> str:
        return os.path.join(self.directory, f"batch-{sequence:012d}.json")

    def pending(self) -> list[str]:
        """Paths of the stored batches, oldest first."""
        return [self._path(s) for s in self._sequences()]

    def size(self) -> int:
        return sum(os.path.getsize(p) for p in self.pending())

    def put(self, batch: dict) -> str:
        data = json.dumps(batch, separators=(",", ":"), allow_nan=False).encode("utf-8")
        path = self._path(self._next)
        self._next += 1
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        self._fsync_dir()
        self._enforce_cap(keep=path)
        return path

    def _enforce_cap(self, keep: str) -> None:
        paths = self.pending()
        total = sum(os.path.getsize(p) for p in paths)
        dropped = 0
        for path in paths:
            if total <= self.max_bytes or path == keep:
                break
            total -= os.path.getsize(path)
            os.unlink(path)
            dropped += 1
        if dropped:
            self.dropped += dropped
            self._fsync_dir()
            logger.warning("buffer over %d bytes: dropped the %d oldest batch(es) (%d dropped since start)",
                           self.max_bytes, dropped, self.dropped)

    @staticmethod
    def load(path: str) -> bytes:
        with open(path, "rb") as handle:
            return handle.read()

    def remove(self, path: str) -> None:
        os.unlink(path)
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
