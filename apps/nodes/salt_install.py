"""Install and enroll a Salt minion on a node over SSH (one host of the batch install job).

Steps, each bounded by a wall-clock deadline and reported live on the job page under the host:
  connect  SSH with the node's vault credential and trusted host keys
  sudo     `sudo -n true`: the SSH user needs passwordless sudo
  os       /etc/os-release and the package managers present
  install  the minion from the configured source (settings.SALT_MINION_SOURCE), skipped when the
           wanted version answers already
  enroll   a one-time token (salt_enrollment, method BATCH) and the repository's bootstrap
           (scripts/salt-bootstrap.sh), both sent on the SSH channel's stdin, never on a command
           line: the bootstrap redeems the token, pins the master's key, starts the minion and
           reports its key fingerprint
  accept   the pending key is accepted only if it is the reported one, then pinged
A step that fails ends this host with its reason; the other hosts go on.
"""
from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from . import remote, ssh
from .models import Node
from .salt_models import EnrollmentMethod, EnrollmentState, SaltMaster

BOOTSTRAP = Path(settings.BASE_DIR) / "scripts" / "salt-bootstrap.sh"
QUICK_S = 20.0          # connect, sudo, OS detection, version check
INSTALL_S = 900.0       # one package manager or pip command
BOOTSTRAP_S = 180.0     # redeem, configure, start the minion, wait for its key, report
PATH_RE = re.compile(r"/[A-Za-z0-9._/+{}-]*")
VERSION_RE = re.compile(r"[0-9][0-9A-Za-z.+~-]{0,40}")


class SourceKind(StrEnum):
    PACKAGES = "packages"   # the host's package manager (its repositories, or the one configured)
    PIP = "pip"             # a virtualenv with salt from an index
    SHARED = "shared"       # a salt-minion on a shared filesystem: nothing to install


class OsFamily(StrEnum):
    DEBIAN = "debian"
    RHEL = "rhel"
    SUSE = "suse"
    OTHER = "other"


class Step(StrEnum):
    CONNECT = "connect"
    SUDO = "sudo"
    OS = "os"
    INSTALL = "install"
    ENROLL = "enroll"
    ACCEPT = "accept"


class InstallFailed(Exception):
    """A host's install stopped at `step`; the message is readable and holds no secret."""

    def __init__(self, step: Step, message: str):
        super().__init__(message)
        self.step = step


@dataclass(frozen=True)
class MinionSource:
    kind: SourceKind
    version: str = ""
    repository: dict = field(default_factory=dict)
    index_url: str = ""
    prefix: str = "/opt/aimatrix-salt"
    path: str = ""
    config_dir: str = "/etc/salt"
    root_dir: str = ""

    def binary(self) -> str:
        return {SourceKind.PIP: f"{self.prefix}/bin/salt-minion", SourceKind.SHARED: self.path}.get(
            self.kind, "salt-minion")

    def daemon(self) -> bool:
        """Started by the bootstrap as a daemon (no service unit): pip and shared installs."""
        return self.kind != SourceKind.PACKAGES

    def dirs(self, minion_id: str) -> tuple[str, str]:
        return (self.config_dir.replace("{minion_id}", minion_id), self.root_dir.replace("{minion_id}", minion_id))


def minion_source(raw: dict | None = None) -> MinionSource:
    """settings.SALT_MINION_SOURCE, checked (a wrong setting is named, not half used)."""
    raw = dict(settings.SALT_MINION_SOURCE if raw is None else raw)
    try:
        kind = SourceKind(raw.pop("kind", SourceKind.PACKAGES))
    except ValueError:
        raise ImproperlyConfigured(f"SALT_MINION_SOURCE kind must be one of {', '.join(SourceKind)}") from None
    unknown = set(raw) - {f.name for f in fields(MinionSource)}
    if unknown:
        raise ImproperlyConfigured(f"SALT_MINION_SOURCE: unknown keys {', '.join(sorted(unknown))}")
    source = MinionSource(kind, **raw)
    for name in ("prefix", "config_dir") + (("path",) if kind == SourceKind.SHARED else ()) + \
            (("root_dir",) if source.root_dir else ()):
        if not PATH_RE.fullmatch(getattr(source, name) or ""):
            raise ImproperlyConfigured(f"SALT_MINION_SOURCE {name} must be an absolute path of [A-Za-z0-9._/+{{}}-]")
    if source.version and not VERSION_RE.fullmatch(source.version):
        raise ImproperlyConfigured("SALT_MINION_SOURCE version: a version such as 3007.1")
    if source.index_url and not re.fullmatch(r"https?://[^\s@]+", source.index_url):
        raise ImproperlyConfigured("SALT_MINION_SOURCE index_url must be an http(s) URL without credentials")
    if not isinstance(source.repository, dict) or set(source.repository) - {"apt", "dnf", "zypper"}:
        raise ImproperlyConfigured("SALT_MINION_SOURCE repository: {\"apt\" | \"dnf\" | \"zypper\": file text}")
    return source


def parallelism(hosts: int, requested: int | None = None) -> int:
    """How many hosts install at once: the setting, never more than the SSH fan-out limit (sshd on
    the portal's side saturates beyond it), fewer when the request asks, never more than hosts."""
    cap = min(settings.SALT_INSTALL_PARALLEL, settings.NODES_SSH_FANOUT)
    if requested:
        cap = min(cap, requested)
    return max(1, min(hosts, cap))


# --- the OS ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class OsInfo:
    id: str
    version: str
    pretty: str
    family: OsFamily
    tools: frozenset

    @property
    def package_manager(self) -> str | None:
        wanted = {OsFamily.DEBIAN: ("apt-get",), OsFamily.RHEL: ("dnf", "yum"), OsFamily.SUSE: ("zypper",)}
        return next((t for t in wanted.get(self.family, ()) if t in self.tools), None)


# One read: os-release, then which package managers are on PATH.
OS_PROBE = ["sh", "-c", "cat /etc/os-release 2>/dev/null; echo '--tools--'; "
            "for t in apt-get dnf yum zypper; do command -v \"$t\" >/dev/null 2>&1 && echo \"$t\"; done; true"]


def parse_os(text: str) -> OsInfo:
    release, _, tools = text.partition("--tools--")
    values = {}
    for line in release.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = shlex.split(value)[0] if value.strip() else ""
    ids = [values.get("ID", "").lower()] + values.get("ID_LIKE", "").lower().split()
    family = next((f for f, names in ((OsFamily.DEBIAN, {"debian", "ubuntu"}),
                                      (OsFamily.RHEL, {"rhel", "fedora", "centos", "rocky", "almalinux"}),
                                      (OsFamily.SUSE, {"suse", "sles", "opensuse"}))
                   if names & set(ids)), OsFamily.OTHER)
    return OsInfo(ids[0] or "unknown", values.get("VERSION_ID", ""), values.get("PRETTY_NAME", "") or ids[0] or "unknown",
                  family, frozenset(tools.split()))


# --- the install commands -------------------------------------------------------------------
REPO_FILES = {"apt-get": ("apt", "/etc/apt/sources.list.d/aimatrix-salt.list"),
              "dnf": ("dnf", "/etc/yum.repos.d/aimatrix-salt.repo"),
              "yum": ("dnf", "/etc/yum.repos.d/aimatrix-salt.repo"),
              "zypper": ("zypper", "/etc/zypp/repos.d/aimatrix-salt.repo")}


def install_commands(source: MinionSource, os_info: OsInfo) -> list[tuple[list[str], str | None]]:
    """(argv run with `sudo -n`, stdin text or None) in order; [] for a shared minion."""
    if source.kind == SourceKind.SHARED:
        return []
    if source.kind == SourceKind.PIP:
        pip = [f"{source.prefix}/bin/pip", "install", "--quiet"]
        if source.index_url:
            pip += ["--index-url", source.index_url]
        return [(["python3", "-m", "venv", source.prefix], None),
                (pip + [f"salt=={source.version}" if source.version else "salt"], None)]
    manager = os_info.package_manager
    if manager is None:
        raise InstallFailed(Step.OS, f"no package manager for {os_info.pretty} (apt-get, dnf, yum or zypper); "
                                     "use the pip or shared minion source for this host")
    commands = []
    repo_key, repo_path = REPO_FILES[manager]
    if source.repository.get(repo_key):
        commands.append((["tee", repo_path], source.repository[repo_key].rstrip("\n") + "\n"))
    version = source.version
    if manager == "apt-get":
        apt = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y"]
        commands += [(apt + ["update"], None),
                     (apt + ["install", f"salt-minion={version}*" if version else "salt-minion"], None)]
    elif manager in ("dnf", "yum"):
        commands.append(([manager, "-y", "install", f"salt-minion-{version}" if version else "salt-minion"], None))
    else:
        commands.append((["zypper", "--non-interactive", "install", f"salt-minion={version}" if version else "salt-minion"],
                         None))
    return commands


# --- one host -------------------------------------------------------------------------------
def _run(node, argv, *, timeout: float, step: Step, purpose: str, actor, stdin=None) -> ssh.Result:
    try:
        return remote.run_bounded(node, argv, timeout=timeout, purpose=purpose, actor=actor, stdin=stdin)
    except remote.NodeUnavailable as exc:
        raise InstallFailed(step, str(exc)) from None


def _installed_version(node, source: MinionSource, **ctx) -> str | None:
    result = _run(node, ["sudo", "-n", source.binary(), "--version"], timeout=QUICK_S, step=Step.INSTALL, **ctx)
    match = re.search(r"salt-minion\s+(\S+)", result.stdout)
    return match.group(1) if result.exit_status == 0 and match else None


# The bootstrap reaches the host on stdin, followed by the token: `head -c` takes exactly the
# script's bytes into a private file, the token stays on stdin for the bootstrap to read.
RUN_BOOTSTRAP = ('set -eu; umask 077; f="$(mktemp)"; trap \'rm -f "$f"\' EXIT; head -c "$1" >"$f"; shift; '
                 'sudo -n sh "$f" "$@"')


def bootstrap_argv(script_bytes: int, portal_url: str, source: MinionSource, minion_id: str) -> list[str]:
    config_dir, root_dir = source.dirs(minion_id)
    argv = ["sh", "-c", RUN_BOOTSTRAP, "aimatrix-install", str(script_bytes), "--portal", portal_url,
            "--config-dir", config_dir]
    if root_dir:
        argv += ["--root-dir", root_dir]
    if source.daemon():
        argv += ["--salt-minion", source.binary()]
    return argv


def install_one(node: Node, *, actor, master: SaltMaster, minion_id: str, portal_url: str, source: MinionSource,
                purpose: str, log=lambda step, message: None) -> dict:
    """Install, enroll and accept the minion of one node: {"minion_id", "os", "version",
    "fingerprint", "installed", "ping_s", "seconds": {step: s}}. InstallFailed says where and why."""
    from . import salt_enrollment
    from .salt_jobs import EnrollmentNotAccepted, accept_reported

    ctx = {"purpose": purpose, "actor": actor}
    seconds: dict[str, float] = {}
    started = time.monotonic()

    def done(step: Step, message: str) -> None:
        nonlocal started
        seconds[step] = round(time.monotonic() - started, 2)
        started = time.monotonic()
        log(step, message)

    first = _run(node, ["true"], timeout=QUICK_S, step=Step.CONNECT, **ctx)
    done(Step.CONNECT, f"connected as {node.ssh_user} in {first.duration * 1000:.0f} ms")
    sudo = _run(node, ["sudo", "-n", "true"], timeout=QUICK_S, step=Step.SUDO, **ctx)
    if sudo.exit_status != 0:
        raise InstallFailed(Step.SUDO, f"{node.ssh_user} may not use sudo without a password ({sudo.reason()})")
    done(Step.SUDO, "sudo works without a password")
    os_info = parse_os(_run(node, OS_PROBE, timeout=QUICK_S, step=Step.OS, **ctx).stdout)
    done(Step.OS, f"{os_info.pretty} ({os_info.family}; {', '.join(sorted(os_info.tools)) or 'no package manager'})")

    version = _installed_version(node, source, **ctx)
    installed = False
    if version and (not source.version or version.startswith(source.version)):
        done(Step.INSTALL, f"salt-minion {version} is installed already")
    else:
        for argv, stdin in install_commands(source, os_info):
            result = _run(node, ["sudo", "-n", *argv], timeout=INSTALL_S, step=Step.INSTALL, stdin=stdin, **ctx)
            if result.exit_status != 0:
                raise InstallFailed(Step.INSTALL, f"`{shlex.join(argv)}` failed: {result.reason()}")
            log(Step.INSTALL, f"ran {shlex.join(argv)}")
        version = _installed_version(node, source, **ctx)
        if version is None:
            raise InstallFailed(Step.INSTALL, f"{source.binary()} does not answer `--version` on {node.name} "
                                              f"(minion source: {source.kind})")
        installed = source.kind != SourceKind.SHARED
        done(Step.INSTALL, f"salt-minion {version} {'installed' if installed else 'found'} ({source.kind})")

    opened = salt_enrollment.issue(actor, node, master=master, minion_id=minion_id, portal_url=portal_url,
                                   method=EnrollmentMethod.BATCH)
    enrollment = opened["enrollment"]
    script = BOOTSTRAP.read_bytes()
    result = _run(node, bootstrap_argv(len(script), portal_url, source, minion_id), timeout=BOOTSTRAP_S,
                  step=Step.ENROLL, stdin=script + (opened["token"] + "\n").encode(), **ctx)
    enrollment.refresh_from_db()
    if result.exit_status != 0 or enrollment.state != EnrollmentState.REPORTED:
        if enrollment.state in (EnrollmentState.ISSUED, EnrollmentState.REDEEMED):
            salt_enrollment.finish(enrollment, ok=False, detail=f"bootstrap: {result.reason()}", actor=actor)
        raise InstallFailed(Step.ENROLL, f"the bootstrap failed: {result.reason()}")
    done(Step.ENROLL, f"minion {minion_id} configured and started; it reported key {enrollment.reported_fingerprint}")

    try:
        key, ping_s = accept_reported(enrollment, actor=actor, purpose=purpose,
                                      step=lambda message: log(Step.ACCEPT, message))
    except EnrollmentNotAccepted as exc:
        raise InstallFailed(Step.ACCEPT, str(exc)) from None
    done(Step.ACCEPT, f"key accepted; it answered a ping after {ping_s:.1f} s")
    return {"minion_id": minion_id, "os": os_info.pretty, "version": version, "fingerprint": key.fingerprint,
            "installed": installed, "ping_s": round(ping_s, 2), "seconds": seconds}

