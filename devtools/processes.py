"""Start and stop the real processes that tests and benchmarks drive: Celery workers and daphne.

Each child runs in its own session (a prefork worker has children) and logs to a file.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QUEUES = "default,ssh,bmc,slurm,telemetry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**overrides) -> dict:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class Process:
    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path):
        log_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL) -> None:
        """Signal the whole process group."""
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 10) -> None:
        if self.alive():
            self.kill(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def start_worker(name: str, env: dict, log_dir: Path, queues: str = QUEUES, concurrency: int = 2,
                 timeout: float = 30) -> Process:
    argv = [str(BIN / "celery"), "-A", "aimatrix", "worker", "-n", f"{name}@%h", "-Q", queues,
            f"--concurrency={concurrency}", "--without-gossip", "--without-mingle", "--loglevel=INFO"]
    # As production runs workers (Procfile, compose): no connection pool, a connection per thread.
    env = {**env, "AIMATRIX_DB_POOL": env.get("AIMATRIX_DB_POOL", "0")}
    proc = Process(name, argv, env, log_dir)
    wait_for_worker(proc, f"{name}@{socket.gethostname()}", timeout)
    return proc


def wait_for_worker(proc: Process, hostname: str, timeout: float = 30) -> None:
    from aimatrix.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"worker {proc.name} exited:\n{proc.log_tail()}")
        replies = app.control.ping(destination=[hostname], timeout=0.5) or []
        if any(hostname in r for r in replies):
            return
    proc.stop()
    raise RuntimeError(f"worker {proc.name} did not answer within {timeout}s:\n{proc.log_tail()}")


def start_daphne(name: str, env: dict, log_dir: Path, port: int | None = None,
                 timeout: float = 30, host: str = "127.0.0.1") -> tuple[Process, str]:
    """daphne on `host` (0.0.0.0: also reachable from the lab's network namespaces); the URL is
    always the loopback one."""
    port = port or free_port()
    argv = [str(BIN / "daphne"), "-b", host, "-p", str(port), "aimatrix.asgi:application"]
    proc = Process(name, argv, env, log_dir)
    wait_listening(proc, port, timeout, "daphne")
    return proc, f"http://127.0.0.1:{port}"


def start_gunicorn(name: str, env: dict, log_dir: Path, port: int | None = None, workers: int = 2,
                   timeout: float = 30) -> tuple[Process, str]:
    """gunicorn as production runs it (aimatrix/gunicorn_conf.py: preloaded app, sync workers,
    the pool from settings), on 127.0.0.1:`port`."""
    port = port or free_port()
    env = {**env, "AIMATRIX_WEB_BIND": f"127.0.0.1:{port}", "AIMATRIX_WEB_WORKERS": str(workers)}
    argv = [str(BIN / "gunicorn"), "-c", str(ROOT / "aimatrix" / "gunicorn_conf.py"), "aimatrix.wsgi:application"]
    proc = Process(name, argv, env, log_dir)
    wait_listening(proc, port, timeout, "gunicorn")
    return proc, f"http://127.0.0.1:{port}"


def wait_listening(proc: Process, port: int, timeout: float, what: str, extra_log=lambda: "") -> None:
    """Until `proc` accepts TCP connections on 127.0.0.1:`port`; stopped, with its log, if it
    exits or does not listen within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{what} exited:\n{proc.log_tail()}\n{extra_log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    proc.stop()
    raise RuntimeError(f"{what} did not listen within {timeout}s:\n{proc.log_tail()}\n{extra_log()}")
