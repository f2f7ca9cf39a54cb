"""The local lab's inventory ($LAB_DIR/inventory.json, written by scripts/lab): its SSH hosts, its
Redfish and IPMI BMC emulators and where their credentials are kept.

Plain standard library and no Django, so the production command `manage.py lab_register` and the
development tools (devtools.lab, tests, bench) read the same file the same way. Secrets (the
Redfish and IPMI passwords) stay in their mode-600 files; `credentials()` reads them on demand
and nothing here logs or formats them.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path


def read_creds(path: str) -> tuple[str, str]:
    values = {}
    for line in Path(path).read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values["username"], values["password"]


@dataclass(frozen=True)
class LabHost:
    name: str
    address: str
    port: int
    user: str
    host_key_type: str   # e.g. "ssh-ed25519"
    host_key: str        # base64 of the public key blob, as in known_hosts
    fingerprint: str     # "SHA256:...", as `ssh-keygen -lf` prints it
    netns: str | None = None

    @property
    def known_hosts_name(self) -> str:
        """The host's name in a known_hosts file / paramiko HostKeys."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    @property
    def known_hosts_line(self) -> str:
        return f"{self.known_hosts_name} {self.host_key_type} {self.host_key}"


@dataclass(frozen=True)
class RedfishInfo:
    url: str
    username: str
    credentials_file: str
    systems: dict[str, str]                 # lab host name -> Redfish system id (UUID)
    extra_systems: dict[str, str] = field(default_factory=dict)
    power_delay: tuple[int, int] = (1, 11)  # seconds before a power change shows
    ca_file: str = ""                       # the emulator's self-signed TLS certificate

    def credentials(self) -> tuple[str, str]:
        return read_creds(self.credentials_file)

    def system_path(self, host: str) -> str:
        return f"/redfish/v1/Systems/{self.systems[host]}"


@dataclass(frozen=True)
class IpmiInfo:
    node: str            # lab host whose BMC this is
    host: str
    port: int
    username: str
    credentials_file: str
    password_file: str   # the password alone, for `ipmitool -f`
    power_state_file: str
    interface: str = "lanplus"
    cipher_suite: int = 3

    def credentials(self) -> tuple[str, str]:
        return read_creds(self.credentials_file)

    def ipmitool_argv(self, *args: str) -> list[str]:
        """ipmitool command line; the password is read from password_file, never on argv."""
        return ["ipmitool", "-I", self.interface, "-C", str(self.cipher_suite), "-H", self.host,
                "-p", str(self.port), "-U", self.username, "-f", self.password_file, *args]


@dataclass(frozen=True)
class Inventory:
    lab_dir: Path
    components: tuple[str, ...]
    hosts: list[LabHost]
    client_key_path: str | None
    known_hosts: str | None
    network: dict
    redfish: RedfishInfo | None
    ipmi: IpmiInfo | None

    def host(self, name: str) -> LabHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    @classmethod
    def load(cls, lab_dir: str | os.PathLike) -> "Inventory":
        path = Path(lab_dir) / "inventory.json"
        data = json.loads(path.read_text())
        rf = data.get("redfish")
        ip = data.get("ipmi")
        return cls(
            lab_dir=Path(data["lab_dir"]),
            components=tuple(data.get("components", ())),
            hosts=[LabHost(**h) for h in data.get("hosts", [])],
            client_key_path=data.get("client_key_path"),
            known_hosts=data.get("known_hosts"),
            network=data.get("network", {}),
            redfish=RedfishInfo(
                url=rf["url"], username=rf["username"], credentials_file=rf["credentials_file"],
                systems=rf["systems"], extra_systems=rf.get("extra_systems", {}),
                power_delay=tuple(rf.get("power_delay", (1, 11))), ca_file=rf.get("ca_file", ""),
            ) if rf else None,
            ipmi=IpmiInfo(**ip) if ip else None,
        )
