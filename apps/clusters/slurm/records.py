"""Plain records the Slurm client returns (no Django): enums for states, dataclasses for objects.

Times are naive datetimes in the cluster's local time, as Slurm prints them; durations are
minutes (None = UNLIMITED / not set); memory is MiB.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class NodeBaseState(str, enum.Enum):
    IDLE = "IDLE"
    ALLOCATED = "ALLOCATED"
    MIXED = "MIXED"
    DOWN = "DOWN"
    ERROR = "ERROR"
    FUTURE = "FUTURE"
    UNKNOWN = "UNKNOWN"


class NodeFlag(str, enum.Enum):
    """State flags printed after '+' by scontrol (sinfo shows some as a suffix: * ~ # ! % $ @ ^ -)."""

    DRAIN = "DRAIN"
    COMPLETING = "COMPLETING"
    NOT_RESPONDING = "NOT_RESPONDING"
    FAIL = "FAIL"
    MAINTENANCE = "MAINTENANCE"
    RESERVED = "RESERVED"
    POWERED_DOWN = "POWERED_DOWN"
    POWERING_DOWN = "POWERING_DOWN"
    POWERING_UP = "POWERING_UP"
    POWER_DOWN = "POWER_DOWN"  # requested, not yet done
    REBOOT_REQUESTED = "REBOOT_REQUESTED"
    REBOOT_ISSUED = "REBOOT_ISSUED"
    INVALID_REG = "INVALID_REG"
    CLOUD = "CLOUD"
    DYNAMIC_FUTURE = "DYNAMIC_FUTURE"
    DYNAMIC_NORM = "DYNAMIC_NORM"
    PLANNED = "PLANNED"
    BLOCKED = "BLOCKED"


@dataclass(frozen=True)
class NodeState:
    base: NodeBaseState
    flags: frozenset = frozenset()  # NodeFlag members; unknown flags are kept as plain strings
    raw: str = ""

    def has(self, flag: NodeFlag) -> bool:
        return flag in self.flags

    @property
    def drained(self) -> bool:
        """Drain requested and nothing runs any more."""
        return NodeFlag.DRAIN in self.flags and self.base in (NodeBaseState.IDLE, NodeBaseState.DOWN)

    @property
    def draining(self) -> bool:
        return NodeFlag.DRAIN in self.flags and self.base in (NodeBaseState.ALLOCATED, NodeBaseState.MIXED)

    @property
    def available(self) -> bool:
        """Can take new work: up, responding, not drained/failed/powered down."""
        blocking = {NodeFlag.DRAIN, NodeFlag.NOT_RESPONDING, NodeFlag.FAIL, NodeFlag.POWERED_DOWN,
                    NodeFlag.POWERING_DOWN, NodeFlag.INVALID_REG, NodeFlag.MAINTENANCE}
        return self.base in (NodeBaseState.IDLE, NodeBaseState.MIXED, NodeBaseState.ALLOCATED) and \
            not (blocking & self.flags)

    @property
    def summary(self) -> str:
        """One lower-case word for grids and counts: drained, draining, down, idle, mixed..."""
        if self.drained:
            return "drained"
        if self.draining:
            return "draining"
        if NodeFlag.POWERED_DOWN in self.flags:
            return "powered_down"
        if NodeFlag.NOT_RESPONDING in self.flags and self.base != NodeBaseState.DOWN:
            return "not_responding"
        return self.base.value.lower()

    def __str__(self) -> str:
        return self.raw or "+".join([self.base.value, *sorted(str(getattr(f, "value", f)) for f in self.flags)])


class JobState(str, enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUSPENDED = "SUSPENDED"
    COMPLETING = "COMPLETING"
    CONFIGURING = "CONFIGURING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    BOOT_FAIL = "BOOT_FAIL"
    DEADLINE = "DEADLINE"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    REQUEUED = "REQUEUED"
    REQUEUE_HOLD = "REQUEUE_HOLD"
    REQUEUE_FED = "REQUEUE_FED"
    RESV_DEL_HOLD = "RESV_DEL_HOLD"
    RESIZING = "RESIZING"
    REVOKED = "REVOKED"
    SIGNALING = "SIGNALING"
    SPECIAL_EXIT = "SPECIAL_EXIT"
    STAGE_OUT = "STAGE_OUT"
    STOPPED = "STOPPED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, text: str) -> JobState:
        """'RUNNING', 'CANCELLED by 1000' (sacct), 'PD'/'R' (compact codes) -> member."""
        word = (text or "").strip().split(" ")[0].rstrip("+").upper()
        word = _COMPACT.get(word, word)
        try:
            return cls(word)
        except ValueError:
            return cls.UNKNOWN

    @property
    def finished(self) -> bool:
        return self in _FINISHED

    @property
    def active(self) -> bool:
        """Holds or will hold resources: the queue."""
        return not self.finished and self != JobState.UNKNOWN


_FINISHED = {JobState.COMPLETED, JobState.CANCELLED, JobState.FAILED, JobState.TIMEOUT, JobState.NODE_FAIL,
             JobState.PREEMPTED, JobState.BOOT_FAIL, JobState.DEADLINE, JobState.OUT_OF_MEMORY, JobState.REVOKED,
             JobState.SPECIAL_EXIT}
_COMPACT = {"PD": "PENDING", "R": "RUNNING", "S": "SUSPENDED", "CG": "COMPLETING", "CF": "CONFIGURING",
            "CD": "COMPLETED", "CA": "CANCELLED", "F": "FAILED", "TO": "TIMEOUT", "NF": "NODE_FAIL",
            "PR": "PREEMPTED", "BF": "BOOT_FAIL", "DL": "DEADLINE", "OOM": "OUT_OF_MEMORY", "RQ": "REQUEUED",
            "RH": "REQUEUE_HOLD", "RF": "REQUEUE_FED", "RD": "RESV_DEL_HOLD", "RS": "RESIZING", "RV": "REVOKED",
            "SI": "SIGNALING", "SE": "SPECIAL_EXIT", "SO": "STAGE_OUT", "ST": "STOPPED"}


class NodeAction(str, enum.Enum):
    """What `scontrol update NodeName=... State=` accepts and the portal offers."""

    DRAIN = "DRAIN"
    RESUME = "RESUME"
    UNDRAIN = "UNDRAIN"
    DOWN = "DOWN"
    POWER_DOWN = "POWER_DOWN"
    POWER_UP = "POWER_UP"

    @property
    def needs_reason(self) -> bool:
        return self in (NodeAction.DRAIN, NodeAction.DOWN)


class JobAction(str, enum.Enum):
    CANCEL = "cancel"
    HOLD = "hold"
    RELEASE = "release"
    REQUEUE = "requeue"
    SIGNAL = "signal"


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    micro: int = 0
    raw: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.raw or f"{self.major}.{self.minor:02d}.{self.micro}"


@dataclass(frozen=True)
class Gres:
    """One GRES item: 'gpu:a100:2(S:0-1)' -> name gpu, type a100, count 2; '(IDX:0-1)' -> indexes."""

    name: str
    type: str | None = None
    count: int = 1
    indexes: tuple = ()


@dataclass
class ClusterConfig:
    cluster_name: str
    controllers: list  # [(name, address or None)] from SlurmctldHost, primary first
    gres_types: list
    select_type: str
    accounting_storage_type: str
    version: str
    values: dict  # every "Key = value" of `scontrol show config`


@dataclass
class ControllerPing:
    name: str
    role: str  # primary, backup, backup1...
    up: bool


@dataclass
class SlurmNode:
    name: str
    address: str
    hostname: str
    cpus: int
    sockets: int
    cores_per_socket: int
    threads_per_core: int
    real_memory_mb: int
    gres: list  # [Gres]
    gres_text: str
    features: list
    active_features: list
    state: NodeState
    reason: str = ""
    reason_user: str = ""
    reason_time: datetime | None = None
    partitions: list = field(default_factory=list)
    cfg_tres: dict = field(default_factory=dict)
    alloc_tres: dict = field(default_factory=dict)
    cpus_allocated: int = 0
    memory_allocated_mb: int = 0
    free_memory_mb: int | None = None
    cpu_load: float | None = None
    slurmd_version: str = ""
    os: str = ""
    boot_time: datetime | None = None
    slurmd_start_time: datetime | None = None
    extra: dict = field(default_factory=dict)  # every key as printed, for what the fields above miss

    @property
    def gpus(self) -> int:
        return sum(g.count for g in self.gres if g.name == "gpu")

    @property
    def gpus_allocated(self) -> int:
        return tres_gpus(self.alloc_tres)


@dataclass
class Partition:
    name: str
    nodes: list  # exact node names, expanded
    nodes_expr: str  # as Slurm prints it: 'lab-node[1,10]'
    default: bool
    max_time_minutes: int | None  # None = UNLIMITED
    default_time_minutes: int | None
    state: str  # UP, DOWN, DRAIN, INACTIVE
    allow_accounts: list | None  # None = ALL
    allow_qos: list | None
    allow_groups: list | None
    deny_accounts: list
    deny_qos: list
    priority_tier: int
    total_cpus: int
    total_nodes: int
    tres: dict
    options: dict  # every other key as printed (OverSubscribe, PreemptMode, MaxNodes...)


@dataclass
class Reservation:
    name: str
    start_time: datetime | None
    end_time: datetime | None
    duration_minutes: int | None
    nodes: list  # exact node names
    nodes_expr: str
    partition: str
    flags: list  # MAINT, IGNORE_JOBS, SPEC_NODES...
    users: list
    accounts: list
    groups: list
    tres: dict
    state: str  # ACTIVE, INACTIVE
    extra: dict = field(default_factory=dict)

    @property
    def maintenance(self) -> bool:
        return "MAINT" in self.flags


@dataclass
class SinfoRow:
    node: str
    partition: str
    default_partition: bool
    state: str  # sinfo's long state word: idle, mixed, draining, drained, down*...
    cpus: int
    memory_mb: int
    gres: str
    reason: str
    address: str
    features: list
    cpus_allocated: int
    cpus_idle: int
    cpus_other: int
    free_memory_mb: int | None
    cpu_load: float | None


@dataclass
class Job:
    job_id: str  # '42', or '41_3' for an array task
    name: str
    user: str
    account: str
    partition: str
    state: JobState
    reason: str
    nodes: list  # exact node names
    cpus: int
    num_nodes: int
    memory_mb: int | None  # per node, as requested (MinMemoryNode)
    time_limit_minutes: int | None
    submit_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    qos: str = ""
    priority: int | None = None
    tres: dict = field(default_factory=dict)  # allocated (running) or requested (pending)
    tres_per_node: str = ""
    array_job_id: str = ""
    array_task_id: str = ""
    gpu_indexes: dict = field(default_factory=dict)  # {node: [0, 1]} from `scontrol show job -d`
    exit_code: str = ""
    work_dir: str = ""
    stdout_path: str = ""
    stderr_path: str = ""
    time_used: str = ""
    ambiguous: bool = False  # a free-text field (name, comment, command) looked like other fields
    extra: dict = field(default_factory=dict)

    @property
    def gpus(self) -> int:
        return tres_gpus(self.tres)


@dataclass
class AcctJob:
    """One sacct row (allocation level, -X)."""

    job_id: str
    name: str
    user: str
    account: str
    partition: str
    state: JobState
    state_text: str  # 'CANCELLED by 1000'
    exit_code: str
    submit_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    elapsed_seconds: int
    time_limit_minutes: int | None
    cpus: int
    num_nodes: int
    nodes: list
    requested_memory: str
    tres: dict
    qos: str

    @property
    def gpus(self) -> int:
        return tres_gpus(self.tres)


@dataclass(frozen=True)
class Association:
    cluster: str
    account: str
    user: str = ""  # '' = the account's own association
    partition: str = ""
    parent: str = ""
    share: str = ""
    grp_jobs: int | None = None
    grp_submit_jobs: int | None = None
    grp_tres: dict = field(default_factory=dict)
    grp_tres_mins: dict = field(default_factory=dict)
    grp_wall_minutes: int | None = None
    max_jobs: int | None = None
    max_submit_jobs: int | None = None
    max_tres_per_job: dict = field(default_factory=dict)
    max_tres_per_node: dict = field(default_factory=dict)
    max_tres_mins_per_job: dict = field(default_factory=dict)
    max_wall_minutes: int | None = None
    qos: tuple = ()
    default_qos: str = ""


@dataclass(frozen=True)
class Qos:
    name: str
    priority: int = 0
    grp_tres: dict = field(default_factory=dict)
    grp_tres_mins: dict = field(default_factory=dict)
    grp_jobs: int | None = None
    max_jobs_per_user: int | None = None
    max_submit_jobs_per_user: int | None = None
    max_tres_per_job: dict = field(default_factory=dict)
    max_tres_per_user: dict = field(default_factory=dict)
    max_wall_minutes: int | None = None
    flags: tuple = ()


@dataclass(frozen=True)
class Account:
    name: str
    description: str = ""
    organization: str = ""


@dataclass(frozen=True)
class SlurmUser:
    name: str
    default_account: str = ""
    admin_level: str = ""


@dataclass
class JobSubmission:
    """What the portal asks sbatch for; each field becomes one validated argv option."""

    script: str
    name: str = ""
    partition: str = ""
    account: str = ""
    qos: str = ""
    nodes: int | None = None
    ntasks: int | None = None
    cpus_per_task: int | None = None
    memory_mb: int | None = None  # per node (--mem)
    time_limit_minutes: int | None = None
    gpus: int | None = None  # per node (--gres=gpu[:type]:N)
    gpu_type: str = ""
    output: str = ""  # path pattern; Slurm default slurm-%j.out in the work dir
    error: str = ""
    work_dir: str = ""
    hold: bool = False
    exclusive: bool = False
    constraint: str = ""  # features, e.g. 'a100&ib'
    comment: str = ""


@dataclass(frozen=True)
class SubmitResult:
    job_id: str
    cluster: str = ""


def tres_gpus(tres: dict) -> int:
    """GPUs in a TRES dict: 'gres/gpu' when present (Slurm also lists typed 'gres/gpu:a100' then)."""
    if "gres/gpu" in tres:
        return _int(tres["gres/gpu"])
    return sum(_int(v) for k, v in tres.items() if k.startswith("gres/gpu:"))


def _int(value) -> int:
    try:
        return int(str(value).split("(")[0])
    except ValueError:
        return 0
