"""Helpers for tests against the lab: a command on a lab host over real SSH (strict host keys, the
lab's client key, one pooled connection per host), and polling for a condition with a deadline."""
from __future__ import annotations

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
