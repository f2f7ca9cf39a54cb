"""apps.nodes.ssh against a real OpenSSH server started here (own config, keys and port)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import paramiko
import pytest

from apps.nodes import ssh

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
pytestmark = pytest.mark.skipif(not os.path.exists(SSHD), reason="openssh-server is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path, key_type="ed25519", passphrase="", fmt=()):
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", passphrase, "-C", "", *fmt, "-f", str(path)], check=True)
    key_type, blob = (path.parent / (path.name + ".pub")).read_text().split()[:2]
    return path.read_text(), key_type, blob


class Sshd:
    def __init__(self, root, user):
        self.root, self.port = root, free_port()
        self.host_key, self.host_key_type, self.host_key_b64 = keygen(root / "host_ed25519")
        self.config = root / "sshd_config"
        self.config.write_text(f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {root}/host_ed25519
PidFile {root}/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
AuthorizedKeysFile {root}/authorized_keys
MaxStartups 100:30:200
MaxSessions 50
LogLevel VERBOSE
""")
        self.log = root / "sshd.log"
        os.makedirs("/run/sshd", exist_ok=True)
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=self.log.open("w"))
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"sshd did not start: {self.log.read_text()}")
                time.sleep(0.02)
        # Most tests log in as a plain user with /bin/sh: root's bash here sources a slow ~/.bashrc.
        self.endpoint = ssh.Endpoint("127.0.0.1", self.port, user)
        self.root_endpoint = ssh.Endpoint("127.0.0.1", self.port, "root")
        self.trusted = [(self.host_key_type, self.host_key_b64)]

    def authorize(self, name, **kw):
        text, key_type, blob = keygen(self.root / name, **kw)
        with (self.root / "authorized_keys").open("a") as f:
            f.write(f"{key_type} {blob}\n")
        (self.root / "authorized_keys").chmod(0o644)
        return text

    def logins(self) -> int:
        return self.log.read_text().count("Accepted publickey")

    def kill_sessions(self):
        """SIGKILL every process below the listener: each connection's monitor ([priv]) and the
        unprivileged process under it that serves the channels (killing only the monitor left
        that one able to run one more command, so the connection sometimes survived)."""
        found, parents = [], [str(self.proc.pid)]
        while parents:
            below = subprocess.run(["pgrep", "-P", ",".join(parents)], capture_output=True, text=True).stdout.split()
            found += below
            parents = below
        for pid in found:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(found)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


@pytest.fixture(scope="module")
def sshd(unprivileged_user):
    root = Path(tempfile.mkdtemp(prefix="aimx-sshd-"))
    root.chmod(0o755)  # the unprivileged test user reads authorized_keys from here
    server = Sshd(root, unprivileged_user)
    server.key = server.authorize("client_ed25519")
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def unprivileged_user():
    """A login without a password (locked for passwords, usable with keys under UsePAM no)."""
    name = "aimx-ssh-test"
    if subprocess.run(["id", name], capture_output=True).returncode != 0:
        if os.geteuid() != 0:
            pytest.skip("needs root to create the test user")
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/tmp", "--shell", "/bin/sh", name],
                       check=True)
        subprocess.run(["usermod", "-p", "*", name], check=True)
    return name


@pytest.fixture
def pool():
    p = ssh.SSHPool(connect_timeout=3, auth_timeout=5)
    yield p
    p.close_all()


@pytest.fixture
def creds(sshd):
    return ssh.Credentials(private_key=sshd.key)


def test_run_with_trusted_key(sshd, creds, pool, unprivileged_user):
    result = pool.run(sshd.endpoint, creds, sshd.trusted, ["sh", "-c", "id -un; echo oops >&2; exit 3"], timeout=10)
    assert (result.exit_status, result.stdout, result.stderr) == (3, f"{unprivileged_user}\n", "oops\n")
    assert not result.ok and result.duration > 0
    assert pool.run(sshd.root_endpoint, creds, sshd.trusted, ["id", "-u"], timeout=10).stdout == "0\n"


@pytest.mark.parametrize("kind", ["rsa-pem", "ecdsa-passphrase"])
def test_other_key_types_and_passphrase(sshd, pool, kind):
    if kind == "rsa-pem":
        creds = ssh.Credentials(private_key=sshd.authorize(f"client_{kind}", key_type="rsa", fmt=("-b", "2048", "-m", "PEM")))
    else:
        creds = ssh.Credentials(private_key=sshd.authorize(f"client_{kind}", key_type="ecdsa", passphrase="s3cret-phrase"),
                                passphrase="s3cret-phrase")
    assert pool.run(sshd.endpoint, creds, sshd.trusted, ["echo", "hi"], timeout=10).stdout == "hi\n"
    assert "s3cret" not in repr(creds) and "PRIVATE" not in repr(creds)


def test_unknown_host_key_reports_offered_key(sshd, creds, pool):
    pub = sshd.root / "host_ed25519.pub"
    expected = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True).stdout.split()[1]
    with pytest.raises(ssh.HostKeyUnknown) as info:
        pool.run(sshd.endpoint, creds, [], ["true"], timeout=5)
    err = info.value
    assert (err.key_type, err.public_key, err.fingerprint) == ("ssh-ed25519", sshd.host_key_b64, expected)
    assert expected in str(err) and f"127.0.0.1:{sshd.port}" in str(err)
    assert pool.stats["connects"] == 0


def test_a_host_that_switches_key_type_has_changed_not_appeared(sshd, creds, pool):
    """Finding: trusted for one key type, the host now offers only another (ed25519 -> RSA in
    the report; here ecdsa -> ed25519): that is a possible man-in-the-middle, not a new host."""
    _, ecdsa = _other_key("ecdsa")
    with pytest.raises(ssh.HostKeyMismatch) as info:
        pool.run(sshd.endpoint, creds, [("ecdsa-sha2-nistp256", ecdsa)], ["true"], timeout=5)
    assert "MISMATCH" in str(info.value) and ssh.fingerprint(ecdsa) in str(info.value)
    assert info.value.key_type == "ssh-ed25519" and info.value.public_key == sshd.host_key_b64
    assert pool.stats["connects"] == 0


def test_changed_host_key_is_a_mismatch(sshd, creds, pool):
    _, other = _other_key("ed25519")
    with pytest.raises(ssh.HostKeyMismatch) as info:
        pool.run(sshd.endpoint, creds, [("ssh-ed25519", other)], ["true"], timeout=5)
    assert "MISMATCH" in str(info.value) and ssh.fingerprint(other) in str(info.value)
    assert info.value.fingerprint == ssh.fingerprint(sshd.host_key_b64)


def test_wrong_client_key_is_auth_failed_without_leaking_it(sshd, pool):
    stranger, _ = _other_key("ed25519")
    with pytest.raises(ssh.AuthFailed) as info:
        pool.run(sshd.endpoint, ssh.Credentials(private_key=stranger), sshd.trusted, ["true"], timeout=5)
    assert "PRIVATE KEY" not in str(info.value)
    with pytest.raises(ssh.AuthFailed) as info:
        ssh.Credentials(private_key=sshd.key.replace("A", "B", 40)).load_key()
    assert "PRIVATE" not in str(info.value) and info.value.__cause__ is None


def test_unreachable_is_connect_failed_within_timeout(creds):
    refused = ssh.Endpoint("127.0.0.1", free_port())
    with pytest.raises(ssh.ConnectFailed, match=f"127.0.0.1:{refused.port}"):
        ssh.SSHPool(connect_timeout=1).run(refused, creds, [], ["true"], timeout=5)
    with socket.socket() as silent:  # accepts TCP (backlog) but never speaks SSH
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        start = time.monotonic()
        with pytest.raises(ssh.ConnectFailed, match="127.0.0.1"):
            ssh.SSHPool(connect_timeout=1).run(ssh.Endpoint("127.0.0.1", silent.getsockname()[1]), creds, [],
                                               ["true"], timeout=5)
        assert time.monotonic() - start < 3


def test_command_timeout_kills_the_wait_and_the_pool_survives(sshd, creds, pool):
    start = time.monotonic()
    with pytest.raises(ssh.CommandTimeout, match="'sleep'"):
        pool.run(sshd.endpoint, creds, sshd.trusted, ["sleep", "30"], timeout=0.5)
    assert time.monotonic() - start < 2
    assert pool.run(sshd.endpoint, creds, sshd.trusted, ["echo", "alive"], timeout=5).stdout == "alive\n"
    assert pool.stats["connects"] == 1


def test_command_timeout_kills_the_remote_process(sshd, creds, pool):
    """OpenSSH honours 'signal' requests for non-root sessions (root ones skip post-auth privsep)."""
    marker = f"{time.time() % 1000 + 30:.3f}"
    with pytest.raises(ssh.CommandTimeout):
        pool.run(sshd.endpoint, creds, sshd.trusted, ["sleep", marker], timeout=0.5)
    assert _wait_gone(f"sleep {marker}"), "the remote process outlived the timeout"


def test_remote_timeout_wrapper_bounds_root_commands(sshd, creds, pool):
    marker = f"{time.time() % 1000 + 30:.3f}"
    with pytest.raises(ssh.CommandTimeout):
        pool.run(sshd.root_endpoint, creds, sshd.trusted, ssh.remote_timeout(["sleep", marker], 0.5), timeout=0.3)
    assert _wait_gone(f"sleep {marker}")
    result = pool.run(sshd.root_endpoint, creds, sshd.trusted, ssh.remote_timeout(["sleep", "5"], 0.2), timeout=3)
    assert result.exit_status == 124


def _wait_gone(pattern, timeout=3.0) -> bool:
    deadline = time.monotonic() + timeout
    while subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_malicious_argv_items_are_inert(sshd, creds, pool, tmp_path):
    target = tmp_path / "pwned"
    items = [";", f"; touch {target}", f"$(touch {target})", f"`touch {target}`", f"a\nb; touch {target}",
             "-c", "--help", f"&& touch {target}", f"| touch {target}", "'", '"', "\\", "$HOME", "*", "", " spaced "]
    result = pool.run(sshd.endpoint, creds, sshd.trusted,
                      ["python3", "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", *items], timeout=10)
    assert json.loads(result.stdout) == items
    assert not target.exists()
    with pytest.raises(TypeError):
        pool.run(sshd.endpoint, creds, sshd.trusted, f"touch {target}", timeout=5)


def test_stdin_delivery_and_output_cap(sshd, creds, pool):
    assert pool.run(sshd.endpoint, creds, sshd.trusted, ["cat"], stdin="secret-via-stdin\n", timeout=5).stdout \
        == "secret-via-stdin\n"
    payload = os.urandom(3 << 20)
    digest = pool.run(sshd.endpoint, creds, sshd.trusted, ["sha256sum"], stdin=payload, timeout=20).stdout.split()[0]
    assert digest == hashlib.sha256(payload).hexdigest()
    echoed = pool.run(sshd.endpoint, creds, sshd.trusted, ["cat"], stdin=b"x" * (3 << 20), timeout=20)
    assert echoed.ok and echoed.stdout_truncated and len(echoed.stdout) == ssh.MAX_OUTPUT


def test_connection_is_reused_and_a_killed_one_replaced(sshd, creds, pool):
    logins = sshd.logins()
    for _ in range(3):
        assert pool.run(sshd.endpoint, creds, sshd.trusted, ["true"], timeout=5).ok
    assert (pool.stats["connects"], pool.stats["reuses"]) == (1, 2)
    time.sleep(0.2)  # sshd writes its log line asynchronously
    assert sshd.logins() == logins + 1
    assert sshd.kill_sessions() >= 1
    assert pool.run(sshd.endpoint, creds, sshd.trusted, ["echo", "back"], timeout=5).stdout == "back\n"
    assert pool.stats["connects"] == 2


def test_exec_failure_on_a_pooled_connection_is_retried_once(sshd, creds, pool, monkeypatch):
    pool.run(sshd.endpoint, creds, sshd.trusted, ["true"], timeout=5)
    real, calls = paramiko.Transport.open_session, []

    def looks_alive_but_is_not(transport, *args, **kwargs):
        calls.append(transport)
        if len(calls) == 1:
            raise EOFError()
        return real(transport, *args, **kwargs)

    monkeypatch.setattr(paramiko.Transport, "open_session", looks_alive_but_is_not)
    assert pool.run(sshd.endpoint, creds, sshd.trusted, ["echo", "ok"], timeout=5).stdout == "ok\n"
    assert (pool.stats["replaced"], pool.stats["connects"]) == (1, 2) and calls[0] is not calls[1]


def test_pool_is_thread_safe_and_bounded_per_endpoint(sshd, creds):
    pool = ssh.SSHPool(max_per_key=3)
    results = list(ssh.fan_out(range(40), lambda i: pool.run(sshd.endpoint, creds, sshd.trusted, ["echo", str(i)],
                                                             timeout=10), max_workers=8))
    assert sorted(int(result.stdout) for _, result in results) == list(range(40))
    assert pool.stats["connects"] <= 3 and pool.idle_count() == pool.stats["connects"]
    pool.close_all()


def test_idle_connections_are_closed(sshd, creds):
    pool = ssh.SSHPool(idle_timeout=0.2)
    pool.run(sshd.endpoint, creds, sshd.trusted, ["true"], timeout=5)
    assert pool.idle_count() == 1
    time.sleep(0.6)
    assert pool.idle_count() == 0 and pool.stats["expired"] == 1


def test_forked_child_does_not_reuse_parent_connections(sshd, creds, pool):
    pool.run(sshd.endpoint, creds, sshd.trusted, ["true"], timeout=5)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must open its own connection
        try:
            ok = pool.run(sshd.endpoint, creds, sshd.trusted, ["echo", "child"], timeout=5).stdout == "child\n"
            os.write(write_end, json.dumps([ok, pool.stats["connects"], pool.stats["reuses"]]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    ok, connects, reuses = json.loads(os.read(read_end, 100))
    assert ok and (connects, reuses) == (2, 0)
    assert pool.run(sshd.endpoint, creds, sshd.trusted, ["true"], timeout=5).ok  # parent's connection intact
    assert (pool.stats["connects"], pool.stats["reuses"]) == (1, 1)


def test_fan_out_reports_the_down_host_and_runs_the_others(sshd, creds, pool):
    down = ssh.Endpoint("127.0.0.1", free_port())
    targets = [sshd.endpoint, down, ssh.Endpoint("localhost", sshd.port, sshd.endpoint.user)]
    trusted = {sshd.endpoint.host: sshd.trusted, "localhost": sshd.trusted, down.host: sshd.trusted}
    results = dict(ssh.fan_out(targets, lambda ep: pool.run(ep, creds, trusted[ep.host], ["hostname"], timeout=5),
                               max_workers=2))
    assert isinstance(results[down], ssh.ConnectFailed)
    assert results[sshd.endpoint].ok and results[targets[2]].stdout == results[sshd.endpoint].stdout


def _other_key(key_type):
    """A key pair nobody trusts (private text, public base64)."""
    with tempfile.TemporaryDirectory() as tmp:
        text, _, blob = keygen(Path(tmp) / "key", key_type=key_type)
        return text, blob
