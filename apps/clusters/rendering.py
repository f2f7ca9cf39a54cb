"""slurm.conf and gres.conf of a managed cluster, rendered from plain values (no Django).

slurm.conf = the base template (everything that makes Slurm run there: paths, plugins, auth,
accounting; no NodeName/PartitionName lines) + ClusterName + GresTypes (from the GPUs present) +
one NodeName line per node with its real hardware + one PartitionName line per partition.
gres.conf = `AutoDetect=off` + one `NodeName=X Name=gpu File=...` line per node with GPUs, so
every `Gres=gpu:N` has its devices (Slurm 22.05 refuses `Count=` without `File=`).

Every value that reaches a line is checked here again (the services check them first, with
readable field errors): no whitespace, '=', '#' or control characters can end a value and start
another key or line. Node lists are exact names: removing `lab-node1` never touches `lab-node10`.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from .slurm import hostlist

NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
SLURM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")
CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
ADDRESS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")
FEATURE = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")
TIME = re.compile(r"^(UNLIMITED|INFINITE|\d{1,7}|(\d{1,4}-)?\d{1,2}(:\d{1,2}){0,2})$")
OPTION_VALUE = re.compile(r"^[A-Za-z0-9_.,:/+*@%-]{1,200}$")
BILLING_VALUE = re.compile(r"^[A-Za-z0-9_.,:/=-]{1,200}$")  # TRESBillingWeights=CPU=1.0,Mem=0.25G
GRES_PATTERN = re.compile(r"^/[A-Za-z0-9_./{}-]{1,299}$")
LINE_KEY = re.compile(r"^\s*([A-Za-z][A-Za-z0-9]*)\s*=(.*)$")
RESERVED = {"default", "all"}  # PartitionName=DEFAULT / NodeName=DEFAULT set defaults; ALL means every node

PARTITION_STATES = ("UP", "DOWN", "DRAIN", "INACTIVE")
# PartitionName keys a user may set as "other options" (the rendered ones are fields of their own).
PARTITION_OPTIONS = {name.lower(): name for name in (
    "AllocNodes", "AllowGroups", "Alternate", "CpuBind", "DefCpuPerGPU", "DefMemPerCPU", "DefMemPerGPU",
    "DefMemPerNode", "DefaultTime", "DenyAccounts", "DenyQos", "DisableRootJobs", "ExclusiveUser", "GraceTime",
    "Hidden", "LLN", "MaxCPUsPerNode", "MaxCPUsPerSocket", "MaxMemPerCPU", "MaxMemPerNode", "MaxNodes",
    "MinNodes", "OverSubscribe", "OverTimeLimit", "PowerDownOnIdle", "PreemptMode", "PriorityJobFactor",
    "PriorityTier", "QOS", "ReqResv", "ResumeTimeout", "RootOnly", "SelectTypeParameters", "SuspendTime",
    "SuspendTimeout", "TRESBillingWeights")}
# How `scontrol show partition` shows a key left at Slurm's default: such values (and keys that
# are observations, not settings: TotalCPUs, JobDefaults...) are not written back.
SHOWN_DEFAULTS = {
    "AllocNodes": "ALL", "AllowGroups": "ALL", "QOS": "N/A", "DefaultTime": "NONE", "DisableRootJobs": "NO",
    "ExclusiveUser": "NO", "GraceTime": "0", "Hidden": "NO", "MaxNodes": "UNLIMITED", "MinNodes": "0", "LLN": "NO",
    "MaxCPUsPerNode": "UNLIMITED", "MaxCPUsPerSocket": "UNLIMITED", "PriorityJobFactor": "1", "PriorityTier": "1",
    "RootOnly": "NO", "ReqResv": "NO", "OverSubscribe": "NO", "OverTimeLimit": "NONE", "PreemptMode": "OFF",
    "SelectTypeParameters": "NONE", "DefMemPerNode": "UNLIMITED", "MaxMemPerNode": "UNLIMITED",
    "PowerDownOnIdle": "NO", "ResumeTimeout": "GLOBAL", "SuspendTime": "GLOBAL", "SuspendTimeout": "GLOBAL"}
# Keys the renderer owns: a base template that sets them is refused (nodes, partitions) or
# overridden (cluster name, GRES types).
OWNED_KEYS = {"clustername", "grestypes"}
REFUSED_BASE_KEYS = {"nodename", "partitionname", "nodeset", "frontendname"}
# slurm.conf keys whose change `scontrol reconfigure` does not apply: slurmctld must restart.
RESTART_KEYS = {k.lower() for k in (
    "AuthType", "AuthAltTypes", "AuthInfo", "CredType", "ClusterName", "SlurmctldHost", "ControlMachine",
    "SlurmctldPort", "SlurmdPort", "StateSaveLocation", "SelectType", "SelectTypeParameters", "PluginDir",
    "AccountingStorageType", "AccountingStorageHost", "AccountingStoragePort", "ProctrackType", "TaskPlugin",
    "SwitchType", "JobAcctGatherType", "TopologyPlugin", "GresTypes", "SlurmUser", "SlurmdUser", "MpiDefault",
    "SlurmctldParameters")}
MAX_BASE_BYTES = 256 * 1024


class RenderError(ValueError):
    """A value that cannot go into slurm.conf/gres.conf; `field` names it for the caller."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass(frozen=True)
class NodeSpec:
    name: str
    address: str = ""
    cpus: int = 1
    sockets: int = 1
    cores_per_socket: int = 1
    threads_per_core: int = 1
    real_memory_mb: int = 0
    gpu_indexes: tuple[int, ...] = ()
    features: tuple[str, ...] = ()


@dataclass(frozen=True)
class PartitionSpec:
    name: str
    nodes: tuple[str, ...] = ()
    default: bool = False
    max_time: str = "UNLIMITED"
    state: str = "UP"
    allow_accounts: tuple[str, ...] = ()
    allow_qos: tuple[str, ...] = ()
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterSpec:
    cluster_name: str
    base_text: str
    nodes: tuple[NodeSpec, ...] = ()
    partitions: tuple[PartitionSpec, ...] = ()
    gres_file_pattern: str = "/dev/nvidia{index}"
    base_path: str = ""


@dataclass(frozen=True)
class Rendered:
    slurm_conf: str
    gres_conf: str


# -- checks -------------------------------------------------------------------------------------

def check_node_name(value, field: str = "name") -> str:
    if not isinstance(value, str) or not NODE_NAME.fullmatch(value) or value.lower() in RESERVED:
        raise RenderError(field, "use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit "
                                 "(not DEFAULT or ALL)")
    return value


def check_slurm_name(value, field: str) -> str:
    if not isinstance(value, str) or not SLURM_NAME.fullmatch(value) or value.lower() in RESERVED | {"root"}:
        raise RenderError(field, "use 1-63 letters, digits, '_', '.' or '-', starting with a letter or '_' "
                                 "(not DEFAULT, ALL or root)")
    return value


def check_time(value, field: str = "max_time") -> str:
    if not isinstance(value, str) or not TIME.fullmatch(value):
        raise RenderError(field, "use UNLIMITED, minutes, or [days-]hours:minutes:seconds")
    return value


def check_state(value, field: str = "state") -> str:
    if value not in PARTITION_STATES:
        raise RenderError(field, f"one of {', '.join(PARTITION_STATES)}")
    return value


def check_options(options, field: str = "options") -> dict:
    """Other PartitionName keys: known keys only (canonical spelling), values without spaces, '=' or '#'."""
    if not isinstance(options, dict) or len(options) > 30:
        raise RenderError(field, "a mapping of at most 30 PartitionName keys to values")
    out = {}
    for key, value in options.items():
        canonical = PARTITION_OPTIONS.get(str(key).lower()) if isinstance(key, str) else None
        if canonical is None:
            raise RenderError(field, f"unknown or reserved partition option {str(key)[:40]!r}; allowed: "
                                     f"{', '.join(sorted(PARTITION_OPTIONS.values()))}")
        value = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        pattern = BILLING_VALUE if canonical == "TRESBillingWeights" else OPTION_VALUE
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise RenderError(field, f"{canonical}: a value of 1-200 letters, digits and . , : / + * @ % _ - "
                                     "(no spaces, '=' or '#')")
        out[canonical] = value
    return out


def settable_options(options: dict) -> dict:
    """The options worth rendering of a partition as Slurm reported it: known keys whose value is
    not the default Slurm shows (what discovery stored for a managed cluster's partition)."""
    out = {}
    for key, value in (options or {}).items():
        canonical = PARTITION_OPTIONS.get(str(key).lower())
        if canonical and str(value) != SHOWN_DEFAULTS.get(canonical) and str(value) != "(null)":
            out[canonical] = value
    return out


def check_gres_pattern(value, field: str = "gres_file_pattern") -> str:
    ok = isinstance(value, str) and GRES_PATTERN.fullmatch(value) and value.count("{index}") == 1
    rest = value.replace("{index}", "").replace("{node}", "") if ok else "{"
    if not ok or "{" in rest or "}" in rest:
        raise RenderError(field, "an absolute device path with one {index} (and optionally {node})")
    return value


def _count(value, field: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= 10**9:
        raise RenderError(field, f"a whole number of at least {minimum}")
    return value


def check_node(node: NodeSpec) -> NodeSpec:
    check_node_name(node.name, "slurm_name")
    if node.address and not ADDRESS.fullmatch(node.address):
        raise RenderError("address", "an IP address or a DNS name")
    for name in ("cpus", "sockets", "cores_per_socket", "threads_per_core"):
        _count(getattr(node, name), name)
    _count(node.real_memory_mb, "real_memory_mb", 0)
    cores = node.sockets * node.cores_per_socket
    if node.cpus not in (cores, cores * node.threads_per_core):  # Slurm counts threads or cores
        raise RenderError("cpus", f"{node.name}: CPUs ({node.cpus}) must match sockets x cores x threads "
                                  f"({node.sockets} x {node.cores_per_socket} x {node.threads_per_core})")
    if len(set(node.gpu_indexes)) != len(node.gpu_indexes) or any(
            isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < 1024 for i in node.gpu_indexes):
        raise RenderError("gpus", f"{node.name}: GPU indexes must be distinct numbers 0-1023")
    for feature in node.features:
        if not isinstance(feature, str) or not FEATURE.fullmatch(feature):
            raise RenderError("features", "letters, digits, '_', '.' or '-' (1-63 each)")
    return node


def check_partition(partition: PartitionSpec, node_names=None) -> PartitionSpec:
    check_slurm_name(partition.name, "name")
    check_time(partition.max_time)
    check_state(partition.state)
    for name in partition.nodes:
        check_node_name(name, "nodes")
        if node_names is not None and name not in node_names:
            raise RenderError("nodes", f"{name} is not a node of this cluster")
    for name in partition.allow_accounts:
        check_slurm_name(name, "allow_accounts")
    for name in partition.allow_qos:
        check_slurm_name(name, "allow_qos")
    check_options(partition.options)
    return partition


# -- rendering ------------------------------------------------------------------------------------

def key_of(line: str) -> str | None:
    """The slurm.conf key a line sets (lower case), None for blank lines and comments."""
    match = LINE_KEY.fullmatch(line.split("#", 1)[0])
    return match.group(1).lower() if match else None


def split_base(text: str, path: str = "") -> tuple[list[str], list[str]]:
    """(base lines without ClusterName/GresTypes, GRES types the base asks for)."""
    if len(text.encode()) > MAX_BASE_BYTES:
        raise RenderError("base_config_path", f"the base template is larger than {MAX_BASE_BYTES // 1024} KiB")
    if "\x00" in text:
        raise RenderError("base_config_path", "the base template is not a text file")
    lines, gres_types = [], []
    for number, line in enumerate(text.splitlines(), 1):
        key = key_of(line)
        if key in REFUSED_BASE_KEYS:
            raise RenderError("base_config_path", f"{path or 'the base template'} line {number} sets "
                                                  f"{line.split('=', 1)[0].strip()}: nodes and partitions come "
                                                  "from the portal; remove that line")
        if key == "grestypes":
            gres_types += [t.strip() for t in line.split("#", 1)[0].split("=", 1)[1].split(",") if t.strip()]
        if key in OWNED_KEYS:
            continue
        lines.append(line.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    return lines, gres_types


def ranges(numbers) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    out, numbers = [], sorted(numbers)
    for n in numbers:
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in out)


def gres_file(pattern: str, node: str, indexes) -> str:
    """File= of a node's GPUs: /dev/nvidia{index} and [0,1,2,3] -> /dev/nvidia[0-3]."""
    path = pattern.replace("{node}", node)
    prefix, _, suffix = path.partition("{index}")
    indexes = sorted(indexes)
    if len(indexes) == 1:
        return f"{prefix}{indexes[0]}{suffix}"
    return f"{prefix}[{ranges(indexes)}]{suffix}"


def node_line(node: NodeSpec) -> str:
    parts = [f"NodeName={node.name}"]
    if node.address:
        parts.append(f"NodeAddr={node.address}")
    parts += [f"CPUs={node.cpus}", f"Sockets={node.sockets}", f"CoresPerSocket={node.cores_per_socket}",
              f"ThreadsPerCore={node.threads_per_core}"]
    if node.real_memory_mb:
        parts.append(f"RealMemory={node.real_memory_mb}")
    if node.gpu_indexes:
        parts.append(f"Gres=gpu:{len(node.gpu_indexes)}")
    if node.features:
        parts.append("Feature=" + ",".join(node.features))
    return " ".join(parts)


def partition_line(partition: PartitionSpec, node_names) -> str:
    nodes = [n for n in partition.nodes if n in node_names]  # exact names only
    parts = [f"PartitionName={partition.name}"]
    if nodes:
        parts.append(f"Nodes={hostlist.compress(nodes)}")
    parts += [f"Default={'YES' if partition.default else 'NO'}", f"MaxTime={partition.max_time}",
              f"State={partition.state}"]
    if partition.allow_accounts:
        parts.append("AllowAccounts=" + ",".join(partition.allow_accounts))
    if partition.allow_qos:
        parts.append("AllowQos=" + ",".join(partition.allow_qos))
    parts += [f"{key}={value}" for key, value in sorted(check_options(partition.options).items())]
    return " ".join(parts)


def render(spec: ClusterSpec) -> Rendered:
    if not isinstance(spec.cluster_name, str) or not CLUSTER_NAME.fullmatch(spec.cluster_name):
        raise RenderError("slurm_cluster_name", "1-40 lower-case letters, digits, '-' or '_'")
    check_gres_pattern(spec.gres_file_pattern)
    nodes = sorted((check_node(n) for n in spec.nodes), key=lambda n: hostlist._sort_key(n.name))
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise RenderError("slurm_name", "two nodes share a name")
    partitions = [check_partition(p) for p in spec.partitions]
    if len({p.name.lower() for p in partitions}) != len(partitions):
        raise RenderError("name", "two partitions share a name")
    if sum(1 for p in partitions if p.default) > 1:
        raise RenderError("is_default", "only one partition can be the default")
    base_lines, base_gres = split_base(spec.base_text, spec.base_path)
    gres_types = list(dict.fromkeys(base_gres + (["gpu"] if any(n.gpu_indexes for n in nodes) else [])))

    source = f" (base template {spec.base_path})" if spec.base_path else ""
    conf = [f"# slurm.conf of cluster {spec.cluster_name}, rendered by AI Infra Matrix{source}.",
            "# Edits here are replaced by the next apply: change the base template or the portal.",
            f"ClusterName={spec.cluster_name}", *base_lines, ""]
    if gres_types:
        conf.append("GresTypes=" + ",".join(gres_types))
    conf += ["# Nodes", *(node_line(n) for n in nodes), "# Partitions",
             *(partition_line(p, set(names)) for p in partitions)]
    gres = [f"# gres.conf of cluster {spec.cluster_name}, rendered by AI Infra Matrix (GresTypes="
            f"{','.join(gres_types) or 'none'} in slurm.conf).", "AutoDetect=off"]
    gres += [f"NodeName={n.name} Name=gpu File={gres_file(spec.gres_file_pattern, n.name, n.gpu_indexes)}"
             for n in nodes if n.gpu_indexes]
    return Rendered("\n".join(conf) + "\n", "\n".join(gres) + "\n")


# -- reading a live file, diff, reconfigure or restart --------------------------------------------------

@dataclass(frozen=True)
class Parsed:
    keys: dict          # lower-case key -> value (last wins), node and partition lines excluded
    nodes: dict         # node name -> {lower-case key: value} of its NodeName line
    partitions: tuple   # partition names


def parse(text: str) -> Parsed:
    keys, nodes, partitions = {}, {}, []
    for line in text.splitlines():
        body = line.split("#", 1)[0].strip()
        key = key_of(body)
        if key is None:
            continue
        tokens = dict(tok.split("=", 1) for tok in body.split() if "=" in tok)
        tokens = {k.lower(): v for k, v in tokens.items()}
        if key == "nodename":
            if tokens["nodename"].lower() == "default":
                continue
            try:
                names = hostlist.expand(tokens["nodename"])
            except Exception:  # noqa: BLE001 - an unreadable live line counts as a changed node set
                names = [tokens["nodename"]]
            for name in names:
                nodes[name] = tokens
        elif key == "partitionname":
            partitions.append(tokens["partitionname"])
        else:
            keys[key] = body.split("=", 1)[1].strip()
    return Parsed(keys, nodes, tuple(partitions))


def restart_reasons(live_text: str, new_text: str) -> list[str]:
    """Why `scontrol reconfigure` is not enough (empty: it is): nodes added or removed, a node's
    address changed, or a key only a restart applies (GresTypes, auth, ports...)."""
    live, new = parse(live_text), parse(new_text)
    reasons = []
    added = sorted(set(new.nodes) - set(live.nodes), key=hostlist._sort_key)
    removed = sorted(set(live.nodes) - set(new.nodes), key=hostlist._sort_key)
    if added:
        reasons.append(f"nodes added: {', '.join(added)}")
    if removed:
        reasons.append(f"nodes removed: {', '.join(removed)}")
    moved = [n for n in set(live.nodes) & set(new.nodes)
             if live.nodes[n].get("nodeaddr") != new.nodes[n].get("nodeaddr")]
    if moved:
        reasons.append(f"node address changed: {', '.join(sorted(moved))}")
    changed = sorted(k for k in RESTART_KEYS if live.keys.get(k) != new.keys.get(k))
    if changed:
        reasons.append("changed: " + ", ".join(changed))
    return reasons


def unified_diff(live: str, new: str, path: str) -> str:
    return "".join(difflib.unified_diff(live.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"{path} (live)", tofile=f"{path} (rendered)"))
