"""SSH client: strict host keys, pooled connections, argv-only commands, hard timeouts.

Plain values in, plain values out (no Django): the caller loads the credentials and the trusted
host keys (services: key vault and HostKey rows). Commands are argv lists joined with shlex (the
remote login shell must be POSIX: sh, bash, dash); secrets and scripts go on stdin. No secret
ever appears in an exception message or a log line.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import os
import select
import shlex
import socket
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from apps.core import deadline as deadlines

log = logging.getLogger(__name__)
MAX_OUTPUT = 1 << 20  # bytes kept of stdout and of stderr each; the rest is read and dropped
_SALT = os.urandom(32)  # credential digests in pool keys mean nothing outside this process
_NET_ERRORS = (paramiko.SSHException, EOFError, OSError)


class SSHError(Exception):
    """Base class of everything this module raises."""


class ConnectFailed(SSHError):
    """Unreachable, refused, timed out, or the SSH handshake failed."""


class AuthFailed(SSHError):
    """The server rejected the key/password, or the private key could not be loaded."""


class CommandTimeout(SSHError):
    """The command outlived its timeout: its channel was closed and its process signalled."""


class ConnectionLost(SSHError):
    """The connection died while a command ran: it may or may not have completed."""


class HostKeyError(SSHError):
    def __init__(self, message: str, *, host: str, port: int, key: paramiko.PKey):
        super().__init__(message)
        self.host, self.port, self.key_type, self.public_key = host, port, key.get_name(), key.get_base64()
        self.fingerprint = fingerprint(self.public_key)


class HostKeyUnknown(HostKeyError):
    """No key is trusted for this host yet: the caller records the offered key as pending."""


class HostKeyMismatch(HostKeyError):
    """A key of this type is trusted for the host and it offered another: possible MITM."""


def fingerprint(public_key_b64: str) -> str:
    """'SHA256:...' exactly as `ssh-keygen -lf` prints it."""
    digest = hashlib.sha256(base64.b64decode(public_key_b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int = 22
    user: str = "root"

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class Credentials:
    """A private key (OpenSSH or PEM text; ed25519, ecdsa, rsa; optional passphrase) or a password."""

    private_key: str | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    def __post_init__(self):
        if bool(self.private_key) == bool(self.password):
            raise ValueError("Credentials need exactly one of private_key or password")

    def digest(self) -> str:
        material = "\0".join((self.private_key or "", self.passphrase or "", self.password or ""))
        return hmac.new(_SALT, material.encode(), hashlib.sha256).hexdigest()

    def load_key(self) -> paramiko.PKey:
        data, pw = self.private_key.encode(), self.passphrase.encode() if self.passphrase else None
        try:
            try:
                key = serialization.load_ssh_private_key(data, pw)
            except ValueError:
                key = serialization.load_pem_private_key(data, pw)
            classes = {rsa.RSAPrivateKey: paramiko.RSAKey, ed25519.Ed25519PrivateKey: paramiko.Ed25519Key,
                       ec.EllipticCurvePrivateKey: paramiko.ECDSAKey}
            key_class = next(c for base, c in classes.items() if isinstance(key, base))
            plain = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                      serialization.NoEncryption()).decode()  # decrypt once (bcrypt KDF is slow)
            return key_class.from_private_key(io.StringIO(plain))
        except Exception:  # noqa: BLE001 - whatever the parser says, say nothing about the key
            raise AuthFailed("the private key could not be loaded (wrong passphrase or unsupported format)") from None


@dataclass
class Result:
    exit_status: int  # -1: the server reported none (the process was killed by a signal)
    stdout: str
    stderr: str
    duration: float  # seconds, connecting (when not reused) included
    stdout_truncated: bool = False
    stderr_truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def reason(self) -> str:
        """Why it failed, in one line: the last line it wrote (stderr first), else its exit status."""
        lines = (self.stderr or self.stdout or "").strip().splitlines()
        return lines[-1][:200] if lines else f"exit status {self.exit_status}"


def command_line(argv) -> str:
    if isinstance(argv, (str, bytes)) or not argv or not all(isinstance(a, str) for a in argv):
        raise TypeError("argv must be a non-empty list of str (never a shell string)")
    if any("\0" in a for a in argv):
        raise ValueError("argv items may not contain NUL")
    return shlex.join(argv)


def remote_timeout(argv: list[str], seconds: float, kill_after: float = 5) -> list[str]:
    """argv under coreutils timeout(1), for a bound that holds on the host even where the server
    ignores 'signal' requests (OpenSSH does for root sessions). Exit status 124 when it fires."""
    return ["timeout", "-k", f"{kill_after:g}", f"{seconds:g}", *argv]


def _unknown(ep: Endpoint, key: paramiko.PKey) -> HostKeyUnknown:
    return HostKeyUnknown(f"{ep.host}:{ep.port} offered an untrusted {key.get_name()} host key {key.fingerprint}; "
                          "approve it before connecting", host=ep.host, port=ep.port, key=key)


def _changed(ep: Endpoint, offered: paramiko.PKey, trusted) -> HostKeyMismatch:
    trusted_text = ", ".join(f"{t} {fingerprint(b)}" for t, b in trusted)
    return HostKeyMismatch(f"HOST KEY MISMATCH for {ep.host}:{ep.port}: offered {offered.get_name()} key "
                           f"{offered.fingerprint}, trusted {trusted_text}; possible man-in-the-middle, "
                           "connection refused", host=ep.host, port=ep.port, key=offered)


class _RejectUnknown(paramiko.RejectPolicy):
    """No trusted key of the offered type. A host that has trusted keys of other types but now
    offers only this one (e.g. ed25519 -> RSA) has changed, not merely appeared."""

    def __init__(self, endpoint: Endpoint, trusted=()):
        self.ep, self.trusted = endpoint, list(trusted)

    def missing_host_key(self, client, hostname, key):
        if self.trusted:
            raise _changed(self.ep, key, self.trusted)
        raise _unknown(self.ep, key)


class SSHPool:
    """Connections kept per (endpoint, credentials, trusted keys); thread-safe; a forked child
    starts empty and never touches its parent's connections."""

    def __init__(self, *, idle_timeout=60.0, max_per_key=4, connect_timeout=10.0, auth_timeout=15.0,
                 wait_timeout=60.0):
        self.idle_timeout, self.max_per_key, self.wait_timeout = idle_timeout, max_per_key, wait_timeout
        self.connect_timeout, self.auth_timeout = connect_timeout, auth_timeout
        self.stats = {"connects": 0, "reuses": 0, "replaced": 0, "expired": 0}
        self._reset()
        _POOLS.add(self)

    def _reset(self):
        self._cond, self._idle, self._open = threading.Condition(), {}, {}
        self._pid, self._reaper = os.getpid(), None

    def _after_fork(self):
        _ORPHANED.append(self._idle)  # the parent's sockets: keep them referenced, never close them here
        self._reset()

    def run(self, endpoint: Endpoint, creds: Credentials, trusted_keys, argv, *, stdin=None, timeout: float,
            max_output: int = MAX_OUTPUT) -> Result:
        """Run argv; stdin (bytes/str) is written then closed; CommandTimeout after `timeout` s
        (connecting not included; both shortened to what is left of a running deadline, e.g. the
        job's). A pooled connection found dead is replaced once."""
        command, start, what = command_line(argv), time.monotonic(), f"{argv[0]!r} on {endpoint}"
        data = stdin.encode() if isinstance(stdin, str) else stdin
        trusted = sorted((str(t), str(b)) for t, b in trusted_keys)
        key = (endpoint, creds.digest(), hashlib.sha256(repr(trusted).encode()).hexdigest())
        for attempt in (1, 2):
            client, reused = self._acquire(key, lambda: self._connect(endpoint, creds, trusted))
            deadline = time.monotonic() + deadlines.remaining(timeout)
            try:
                chan = _start(client.get_transport(), command, deadline)
            except _NET_ERRORS as exc:
                self._release(key, client, broken=True)
                if reused and attempt == 1:
                    self._count("replaced")
                    log.info("ssh %s: stale pooled connection replaced (%s)", endpoint, exc)
                    continue
                raise ConnectionLost(f"could not start {what}: {exc}") from None
            try:
                result = _collect(chan, data, deadline, max_output, what, timeout)
            except CommandTimeout:
                self._release(key, client)
                raise
            except (*_NET_ERRORS, ConnectionLost) as exc:
                self._release(key, client, broken=True)
                raise ConnectionLost(f"connection lost while {what} ran: {exc}") from None
            self._release(key, client, broken=not client.get_transport().is_active())
            result.duration = time.monotonic() - start
            return result

    def _connect(self, ep: Endpoint, creds: Credentials, trusted) -> paramiko.SSHClient:
        """Connect, check the host key and log in, all within one deadline (connect + auth
        timeouts): paramiko's own timeouts bound each read, and a host that trickles its banner
        one line at a time would pass every one of them."""
        with deadlines.within(self.connect_timeout + self.auth_timeout, f"SSH connect to {ep}") as own:
            try:
                return self._handshake(ep, creds, trusted)
            except (*_NET_ERRORS, ConnectFailed, AuthFailed):
                passed = deadlines.expired()
                if passed is not None:
                    raise ConnectFailed(f"{ep}: {deadlines.reason(passed, own)} (connect and log in)") from None
                raise

    def _handshake(self, ep: Endpoint, creds: Credentials, trusted) -> paramiko.SSHClient:
        auth = {"password": creds.password} if creds.password else {"pkey": creds.load_key()}
        connect_timeout = deadlines.remaining(self.connect_timeout)
        try:
            deadlines.check()
            sock = socket.create_connection((ep.host, ep.port), timeout=max(connect_timeout, 0.001))
        except (socket.timeout, deadlines.DeadlineExceeded):
            raise ConnectFailed(f"cannot connect to {ep.host}:{ep.port}: "
                                f"timed out after {connect_timeout:.3g}s") from None
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {ep.host}:{ep.port}: {exc.strerror or exc}") from None
        deadlines.guard(sock)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else ~40 ms more per exec
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_RejectUnknown(ep, trusted))
        host_keys, name = client.get_host_keys(), ep.host if ep.port == 22 else f"[{ep.host}]:{ep.port}"
        for key_type, blob in trusted:
            try:
                host_keys.add(name, key_type, paramiko.PKey.from_type_string(key_type, base64.b64decode(blob)))
            except Exception as exc:  # noqa: BLE001 - one bad stored key must not hide the others
                log.warning("ssh %s: ignoring unusable trusted %s host key: %s", ep, key_type, exc)
        try:
            client.connect(ep.host, ep.port, ep.user, sock=sock, timeout=self.connect_timeout,
                           banner_timeout=self.connect_timeout, auth_timeout=self.auth_timeout,
                           channel_timeout=self.connect_timeout, allow_agent=False, look_for_keys=False, **auth)
        except paramiko.BadHostKeyException as exc:
            client.close()
            offered = exc.key
            raise _changed(ep, offered, [(t, b) for t, b in trusted if t == offered.get_name()] or trusted) from None
        except paramiko.AuthenticationException:
            client.close()
            raise AuthFailed(f"{ep}: authentication failed (key or password rejected)") from None
        except _NET_ERRORS as exc:
            client.close()
            # paramiko quotes what the peer sent (e.g. an HTTP status line): never echo it.
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ConnectFailed(f"SSH handshake with {ep.host}:{ep.port} failed ({reason}; not an SSH server, "
                                "or it closed the connection)") from None
        except BaseException:  # HostKeyUnknown from the policy, or anything unexpected: no leaked socket
            client.close()
            raise
        log.debug("ssh %s: connected", ep)
        return client

    def _count(self, stat: str, n: int = 1):
        with self._cond:
            self.stats[stat] += n

    def _acquire(self, key, connect):
        wait = deadlines.remaining(self.wait_timeout)  # never past a running deadline (e.g. the job's)
        deadline, stale = time.monotonic() + wait, []
        try:
            with self._cond:
                if self._pid != os.getpid():
                    self._after_fork()
                while True:
                    idle = self._idle.get(key, [])
                    while idle:
                        client, _ = idle.pop()  # the most recently used one
                        if client.get_transport() is not None and client.get_transport().is_active():
                            self.stats["reuses"] += 1
                            return client, True
                        stale.append(client)
                        self._open[key] -= 1
                    if self._open.get(key, 0) < self.max_per_key:
                        self._open[key] = self._open.get(key, 0) + 1
                        break
                    if not self._cond.wait(deadline - time.monotonic()) and time.monotonic() >= deadline:
                        raise SSHError(f"{key[0]}: all {self.max_per_key} connections busy for {wait:.3g}s")
        finally:
            for client in stale:
                client.close()
        try:
            client = connect()
        except BaseException:
            with self._cond:
                self._open[key] -= 1
                self._cond.notify()
            raise
        self._count("connects")
        return client, False

    def _release(self, key, client, *, broken=False):
        with self._cond:
            if self._pid != os.getpid():
                return  # made before a fork: abandoned
            if broken:
                self._open[key] -= 1
            else:
                self._idle.setdefault(key, []).append((client, time.monotonic()))
                if self._reaper is None:
                    self._reaper = threading.Thread(target=self._reap, name="ssh-pool-reaper", daemon=True)
                    self._reaper.start()
            self._cond.notify()
        if broken:
            client.close()

    def _reap(self):
        """Close connections idle for idle_timeout; exits when nothing is idle."""
        while self._reaper is threading.current_thread():
            time.sleep(max(0.05, min(self.idle_timeout / 2, 5.0)))
            with self._cond:
                now, expired = time.monotonic(), []
                for key, idle in self._idle.items():
                    expired += [c for c, used in idle if now - used >= self.idle_timeout]
                    self._open[key] -= sum(1 for _, used in idle if now - used >= self.idle_timeout)
                    idle[:] = [(c, used) for c, used in idle if now - used < self.idle_timeout]
                self.stats["expired"] += len(expired)
                if not any(self._idle.values()):
                    self._reaper = None
            for client in expired:
                client.close()

    def idle_count(self) -> int:
        with self._cond:
            return sum(len(idle) for idle in self._idle.values())

    def close_all(self):
        with self._cond:
            clients = [c for idle in self._idle.values() for c, _ in idle]
            for key, idle in self._idle.items():
                self._open[key] -= len(idle)
            self._idle.clear()  # connections in use come back on release
        for client in clients:
            client.close()


def _start(transport, command: str, deadline: float):
    if transport is None or not transport.is_active():
        raise paramiko.SSHException("connection no longer active")
    chan = transport.open_session(timeout=max(0.1, deadline - time.monotonic()))
    guard = threading.Timer(max(0.1, deadline - time.monotonic()), chan.close)  # exec_command waits unbounded
    guard.start()
    try:
        chan.exec_command(command)
    finally:
        guard.cancel()
    return chan


class _Capped:
    def __init__(self, limit):
        self.buf, self.limit, self.truncated = bytearray(), limit, False

    def add(self, chunk: bytes):
        room = self.limit - len(self.buf)
        self.buf += chunk[:max(room, 0)]
        self.truncated |= len(chunk) > room


def _collect(chan, data, deadline, max_output, what, timeout) -> Result:
    """Feed stdin and drain stdout/stderr together (no deadlock on big input and output)."""
    out, err, offset = _Capped(max_output), _Capped(max_output), 0
    if not data:
        chan.shutdown_write()
    poller = select.poll()
    poller.register(chan.fileno(), select.POLLIN)  # readable when either stream has data or at EOF
    try:
        while True:
            while chan.recv_ready():
                out.add(chan.recv(65536))
            while chan.recv_stderr_ready():
                err.add(chan.recv_stderr(65536))
            if data:
                chan.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    while offset < len(data) and chan.send_ready() and not chan.closed:
                        offset += chan.send(data[offset:offset + 32768])
                except OSError:
                    offset = len(data)  # the command closed its stdin: keep reading what it says
                if offset >= len(data):
                    chan.shutdown_write()
                    data = None
            if (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready():
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CommandTimeout(f"{what} exceeded its {timeout}s timeout; channel closed")
            poller.poll(min(remaining, 0.01 if data else remaining) * 1000)
        if not chan.status_event.wait(max(0.0, deadline - time.monotonic())):
            raise CommandTimeout(f"{what} exceeded its {timeout}s timeout; channel closed")
        if chan.exit_status == -1 and not chan.get_transport().is_active():
            raise ConnectionLost("the connection closed before the command reported its status")
        text = [b.buf.decode("utf-8", errors="replace") for b in (out, err)]
        return Result(chan.exit_status, text[0], text[1], 0.0, out.truncated, err.truncated)
    except CommandTimeout:
        _signal(chan, "KILL")
        raise
    finally:
        chan.close()


def _signal(chan, name: str):
    """Best effort (paramiko has no API for it): OpenSSH delivers it to non-root sessions."""
    try:
        m = paramiko.Message()
        for add, value in ((m.add_byte, paramiko.common.cMSG_CHANNEL_REQUEST), (m.add_int, chan.remote_chanid),
                           (m.add_string, "signal"), (m.add_boolean, False), (m.add_string, name)):
            add(value)
        chan.transport._send_user_message(m)
    except Exception:  # noqa: BLE001 - the channel is being closed anyway
        pass


def fan_out(targets, func, max_workers: int = 16):
    """Run func(target) for each target, at most max_workers at a time; yield (target, result or
    exception) as each finishes. Leaving the loop early cancels what has not started."""
    targets = list(targets)
    if not targets:
        return
    with ThreadPoolExecutor(max_workers=min(max_workers, len(targets)), thread_name_prefix="ssh-fan-out") as ex:
        futures = {ex.submit(func, target): target for target in targets}
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut.exception() or fut.result()
        finally:
            for fut in futures:
                fut.cancel()


_POOLS: weakref.WeakSet[SSHPool] = weakref.WeakSet()
_ORPHANED: list = []
_default: SSHPool | None = None
_default_lock = threading.Lock()


def _after_fork_in_child():
    global _default_lock
    _default_lock = threading.Lock()
    for pool in list(_POOLS):
        pool._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def default_pool() -> SSHPool:
    """The worker process's shared pool (created on first use, reset in forked children)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SSHPool()
        return _default


def run(endpoint: Endpoint, creds: Credentials, trusted_keys, argv, *, stdin: bytes | str | None = None,
        timeout: float, pool: SSHPool | None = None, max_output: int = MAX_OUTPUT) -> Result:
    """Run argv on the endpoint over the default (or given) pool; see SSHPool.run."""
    return (pool or default_pool()).run(endpoint, creds, trusted_keys, argv, stdin=stdin, timeout=timeout,
                                        max_output=max_output)


def close_all():
    for pool in list(_POOLS):
        pool.close_all()
