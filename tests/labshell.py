"""Helpers for tests against the lab: a command on a lab host over real SSH (strict host keys, the
lab's client key, one pooled connection per host), and polling for a condition with a deadline, and
sampling every process's arguments (a secret must never be on a command line)."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from apps.nodes import ssh

POOL = ssh.SSHPool()


def lab_run(inv, host, argv, *, stdin=None, timeout: float = 60) -> ssh.Result:
    creds = ssh.Credentials(private_key=Path(inv.client_key_path).read_text())
    return ssh.run(ssh.Endpoint(host.address, host.port, host.user), creds, [(host.host_key_type, host.host_key)],
                   argv, stdin=stdin, timeout=timeout, pool=POOL)


def lab_out(inv, host, argv, *, stdin=None, timeout: float = 60) -> str:
    """lab_run's stdout; a failed command fails the test with its exit status and output."""
    result = lab_run(inv, host, argv, stdin=stdin, timeout=timeout)
    assert result.ok, f"{argv}: exit {result.exit_status}: {result.stderr or result.stdout}"
    return result.stdout


def poll(fetch, done, timeout: float = 30.0, what: str = "condition", interval: float = 0.25):
    """fetch() until done(value); the last value in the failure message."""
    deadline, value = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        value = fetch()
        if done(value):
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {value!r}")


class ArgvSampler(threading.Thread):
    """Reads /proc/*/cmdline in a loop until stopped; remembers any that holds one of `needles`."""

    def __init__(self, needles: list[bytes]):
        super().__init__(daemon=True)
        self.needles, self.hits, self.samples, self.stop = needles, [], 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if any(n in argv for n in self.needles):
                    self.hits.append((pid, argv[:200]))
            self.samples += 1
            time.sleep(0.01)
