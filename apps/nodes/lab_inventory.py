"""The local lab's inventory ($LAB_DIR/inventory.json, written by scripts/lab): its SSH hosts, its
Redfish and IPMI BMC emulators and where their credentials are kept, its Slurm clusters and Salt.

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
class SlurmNode:
    name: str                  # lab host name = Slurm node name
    address: str
    in_cluster: bool           # in the slurm.conf the lab started with (a portal may add the rest)
    gpus: int                  # fake GPU devices = GPUs the host's simulated nvidia-smi shows
    gpu_devices: tuple[str, ...] = ()


@dataclass(frozen=True)
class SlurmCluster:
    """One lab cluster (scripts/lab/slurm.sh). `control` holds argv lists a portal runs over SSH
    on a lab host: restart_slurmctld (on the controller host), slurmd_restart / slurmd_stop /
    slurmd_start (on the node's own host), status, reconfigure."""
    name: str
    kind: str                  # "managed" | "external"
    version: str
    controller_host: str
    controller_address: str
    slurmctld_port: int
    slurmd_port: int
    login_host: str            # the host to SSH to; sessions there have SLURM_CONF set
    conf_dir: str
    slurm_conf: str
    gres_conf: str
    base_conf: str             # the base template (SLURM_BASE_CONFIG_PATH)
    partition: str
    munge_socket: str
    accounting: bool           # slurmdbd: sacct / sacctmgr work
    account: str | None
    nodes: tuple[SlurmNode, ...]
    control: dict
    env: dict
    ssh_hosts: tuple[LabHost, ...] = ()   # external: its own hosts (the lab's client key opens them)
    ssh_known_hosts: str | None = None

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes if n.in_cluster]

    @property
    def gpus_per_node(self) -> dict[str, int]:
        return {n.name: n.gpus for n in self.nodes if n.in_cluster}

    def node(self, name: str) -> SlurmNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @classmethod
    def from_dict(cls, c: dict) -> "SlurmCluster":
        ssh = c.get("ssh") or {}
        return cls(
            **{k: c[k] for k in ("name", "kind", "version", "controller_host", "controller_address",
                                 "slurmctld_port", "slurmd_port", "login_host", "conf_dir",
                                 "slurm_conf", "gres_conf", "base_conf", "partition",
                                 "munge_socket", "accounting", "account", "control", "env")},
            nodes=tuple(SlurmNode(**{**n, "gpu_devices": tuple(n.get("gpu_devices", ()))})
                        for n in c["nodes"]),
            ssh_hosts=tuple(LabHost(**{k: v for k, v in h.items() if k != "index"})
                            for h in ssh.get("hosts", [])),
            ssh_known_hosts=ssh.get("known_hosts"),
        )


@dataclass(frozen=True)
class SlurmInfo:
    clusters: tuple[SlurmCluster, ...]
    accounting: dict | None = None   # slurmdbd_host/port, mariadb_port/socket

    def cluster(self, name: str) -> SlurmCluster:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def managed(self) -> SlurmCluster | None:
        return next((c for c in self.clusters if c.kind == "managed"), None)

    @property
    def external(self) -> SlurmCluster | None:
        return next((c for c in self.clusters if c.kind == "external"), None)


@dataclass(frozen=True)
class SaltMinion:
    id: str                      # = the lab host's name
    host: str
    address: str
    key_fingerprint: str | None  # as `salt-key -f` / wheel key.finger show it (what accept compares)
    key_state: str               # at `up`: pending (default) | accepted (LAB_SALT_ACCEPT=1)
    config_dir: str
    config_file: str
    key_fingerprint_pem_body: str | None = None  # the `salt-call key.finger` form of the same key


@dataclass(frozen=True)
class SaltInfo:
    """The lab's Salt (scripts/lab/salt.sh): salt-api over HTTPS with its CA file, `file` eauth
    (password in credentials_file, mode 600), the master (its key's fingerprint in the
    master_finger form), the minions (one per lab host, keys pending by default)."""
    api_url: str
    ca_file: str
    eauth: str
    username: str
    credentials_file: str
    version: str
    master: dict                 # address, publish_port, ret_port, fingerprint, salt_key_fingerprint, public_key ...
    minions: tuple[SaltMinion, ...]
    file_roots: tuple[str, ...] = ()
    pillar_roots: tuple[str, ...] = ()

    def credentials(self) -> tuple[str, str]:
        return read_creds(self.credentials_file)

    def minion(self, minion_id: str) -> SaltMinion:
        for m in self.minions:
            if m.id == minion_id:
                return m
        raise KeyError(minion_id)

    @classmethod
    def from_dict(cls, d: dict) -> "SaltInfo":
        return cls(**{k: d[k] for k in ("api_url", "ca_file", "eauth", "username", "credentials_file",
                                         "version", "master")},
                   minions=tuple(SaltMinion(**m) for m in d.get("minions", [])),
                   file_roots=tuple(d.get("file_roots", ())), pillar_roots=tuple(d.get("pillar_roots", ())))


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
    slurm: SlurmInfo | None = None
    salt: SaltInfo | None = None

    def host(self, name: str) -> LabHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def slurm_login(self, cluster: SlurmCluster) -> LabHost:
        """The SSH host of a cluster's login (= controller) host."""
        for h in cluster.ssh_hosts or self.hosts:
            if h.name == cluster.login_host:
                return h
        raise KeyError(cluster.login_host)

    @classmethod
    def load(cls, lab_dir: str | os.PathLike) -> "Inventory":
        path = Path(lab_dir) / "inventory.json"
        data = json.loads(path.read_text())
        rf = data.get("redfish")
        ip = data.get("ipmi")
        sl = data.get("slurm")
        st = data.get("salt")
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
            slurm=SlurmInfo(
                clusters=tuple(SlurmCluster.from_dict(c) for c in sl.get("clusters", [])),
                accounting=sl.get("accounting"),
            ) if sl else None,
            salt=SaltInfo.from_dict(st) if st else None,
        )
