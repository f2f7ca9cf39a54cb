"""Plain results of Salt calls (no Django): minion keys, per-minion returns, jobs, hardware."""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Mapping

MINION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")  # no glob characters: ids travel as key matches


class KeyState(StrEnum):
    ACCEPTED = "accepted"
    PENDING = "pending"
    REJECTED = "rejected"
    DENIED = "denied"


# wheel key.* result sections -> state
KEY_SECTIONS = {"minions": KeyState.ACCEPTED, "minions_pre": KeyState.PENDING,
                "minions_rejected": KeyState.REJECTED, "minions_denied": KeyState.DENIED}
SECTION_OF = {state: section for section, state in KEY_SECTIONS.items()}


def _colon_hex(digest: str) -> str:
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def key_fingerprint(pem: str | bytes) -> str:
    """A minion key's fingerprint as the master shows it (`salt-key -f`, wheel `key.finger`):
    sha256 over the whole PEM text, stripped. This is what the portal compares when it accepts."""
    data = pem.encode() if isinstance(pem, str) else pem
    return _colon_hex(hashlib.sha256(data.strip()).hexdigest())


def pem_body_fingerprint(pem: str | bytes) -> str:
    """Salt's other fingerprint (salt.utils.crypt.pem_finger on a file): sha256 over the PEM body
    lines only. `master_finger` on minions and `salt-call key.finger` use this one."""
    data = pem.encode() if isinstance(pem, str) else pem
    lines = [line for line in data.splitlines(keepends=True) if line.strip()]
    return _colon_hex(hashlib.sha256(b"".join(lines[1:-1]).replace(b"\r\n", b"\n")).hexdigest())


def normalize_fingerprint(value: str) -> str:
    return value.strip().lower()


def fingerprints_match(given: str, actual: str) -> bool:
    return hmac.compare_digest(normalize_fingerprint(given).encode(), normalize_fingerprint(actual).encode())


@dataclass(frozen=True)
class MinionKey:
    id: str
    state: KeyState
    fingerprint: str | None   # as `salt-key -f` shows it (see key_fingerprint)


@dataclass(frozen=True)
class MinionReturn:
    minion: str
    ret: Any
    retcode: int | None
    success: bool

    @classmethod
    def from_full_return(cls, minion: str, data: Any) -> "MinionReturn":
        if isinstance(data, Mapping) and ("ret" in data or "return" in data):
            ret = data.get("ret", data.get("return"))
            retcode = data.get("retcode")
            retcode = int(retcode) if isinstance(retcode, (int, float)) or str(retcode).isdigit() else None
            success = data.get("success")
            if success is None:
                success = retcode in (0, None)
            return cls(minion, ret, retcode, bool(success) and retcode in (0, None))
        return cls(minion, data, None, True)  # a plain return (no full_return)


@dataclass(frozen=True)
class RunResult:
    """A finished (or timed-out) execution: who returned what, who did not answer."""
    jid: str | None
    fun: str
    returns: dict[str, MinionReturn] = field(default_factory=dict)
    missing: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.missing and all(r.success for r in self.returns.values())

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(sorted(m for m, r in self.returns.items() if not r.success))


@dataclass(frozen=True)
class JobSummary:
    jid: str
    fun: str
    arguments: tuple
    target: Any
    target_type: str
    user: str
    start_time: str


@dataclass(frozen=True)
class Job:
    jid: str
    fun: str
    arguments: tuple
    target: Any
    target_type: str
    user: str
    start_time: str
    minions: tuple[str, ...]
    returns: dict[str, MinionReturn]

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(m for m in self.minions if m not in self.returns)

    @property
    def finished(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class HardwareSummary:
    """What a node brings, from its grains (no command runs on the node)."""
    minion: str
    cpu_model: str | None
    num_cpus: int | None
    mem_total_mb: int | None
    num_gpus: int
    gpus: tuple[dict, ...]            # [{"vendor": ..., "model": ...}]
    infiniband: tuple[str, ...]       # interface names
    os: str | None
    os_release: str | None
    kernel_release: str | None
    salt_version: str | None

    @classmethod
    def from_grains(cls, minion: str, grains: Mapping) -> "HardwareSummary":
        gpus = tuple({"vendor": str(g.get("vendor", "")), "model": str(g.get("model", ""))}
                     for g in grains.get("gpus") or () if isinstance(g, Mapping))
        num = grains.get("num_gpus")
        return cls(
            minion=minion, cpu_model=grains.get("cpu_model"), num_cpus=_int(grains.get("num_cpus")),
            mem_total_mb=_int(grains.get("mem_total")),
            num_gpus=_int(num) if num is not None else len(gpus), gpus=gpus,
            infiniband=infiniband_interfaces(grains), os=grains.get("os"),
            os_release=grains.get("osrelease"), kernel_release=grains.get("kernelrelease"),
            salt_version=grains.get("saltversion"),
        )


def infiniband_interfaces(grains: Mapping) -> tuple[str, ...]:
    """IPoIB interfaces: named ib*, or with a 20-byte hardware address (InfiniBand's GID+QPN)."""
    hw = grains.get("hwaddr_interfaces") or {}
    found = {name for name, addr in hw.items()
             if str(name).startswith("ib") or (isinstance(addr, str) and addr.count(":") == 19)}
    return tuple(sorted(found))


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
