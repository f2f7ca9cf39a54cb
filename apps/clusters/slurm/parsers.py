"""Parsers from Slurm command output to records; tolerant of key order, unknown keys and versions.

Samples of real output (22.05 captured from a running cluster, other versions marked) live in
tests/clusters/samples/. Version notes:
- 22.05: `scontrol show job -d` prints `JOB_GRES=gpu:2` then per node `Nodes=n CPU_IDs=0 Mem=100
  GRES=gpu:2(IDX:0-1)`; TresPerNode is `gres:gpu:2`; squeue `--json` exists (openapi v0.0.38).
- 23.02+: TresPerNode prints `gres/gpu:2`; per-node GRES may carry the type `gpu:a100:2(IDX:0-1)`;
  `scontrol show node` gains `Comment=`/`Extra=`, 23.11 `ResumeAfterTime=`, `InstanceId=`.
- 20.11/21.08: no JOB_GRES; the per-node block follows `CoreSpec=`; `GRES=gpu(IDX:0-1)` (no count);
  sacct ReqMem carries a per-node/per-cpu suffix (`100Mn`, `4Gc`).
"""
from __future__ import annotations

import re

from . import hostlist
from .errors import ParseError
from .parsing import (RecordSpec, null, parse_gres, parse_memory_mb, parse_minutes, parse_node_state,
                      parse_record, parse_seconds, parse_show_lines, parse_time, parse_tres, split_list, to_float,
                      to_int)
from .records import (Account, AcctJob, Association, ClusterConfig, ControllerPing, Job, JobState, Partition, Qos,
                      Reservation, SinfoRow, SlurmNode, SlurmUser, Version)

NODE_SPEC = RecordSpec(
    known=frozenset("""NodeName Arch CoresPerSocket CPUAlloc CPUEfctv CPUTot CPULoad CPUErr AvailableFeatures
        ActiveFeatures Features Gres GresDrain GresUsed NodeAddr NodeHostName Port Version OS RealMemory AllocMem
        FreeMem Sockets Boards State ThreadsPerCore TmpDisk Weight Owner MCS_label Partitions BootTime
        SlurmdStartTime LastBusyTime ResumeAfterTime CfgTRES AllocTRES CapWatts CurrentWatts AveWatts
        LowestJoules ConsumedJoules ExtSensorsJoules ExtSensorsWatts ExtSensorsTemp Reason Comment Extra NextState
        CPUSpecList CoreSpecCount MemSpecLimit InstanceId InstanceType ReservationName Topology""".split()),
    free_text=frozenset({"OS", "Reason", "Comment", "Extra"}),
    tail_marker_keys=frozenset({"Reason"}),
)
PARTITION_SPEC = RecordSpec(
    known=frozenset("""PartitionName AllowGroups AllowAccounts AllowQos AllocNodes Default QoS DefaultTime
        DisableRootJobs ExclusiveUser ExclusiveTopo GraceTime Hidden MaxNodes MaxTime MinNodes LLN MaxCPUsPerNode
        MaxCPUsPerSocket Nodes PriorityJobFactor PriorityTier RootOnly ReqResv OverSubscribe OverTimeLimit
        PreemptMode State TotalCPUs TotalNodes SelectTypeParameters JobDefaults DefMemPerNode DefMemPerCPU
        MaxMemPerNode MaxMemPerCPU TRES TRESBillingWeights DenyAccounts DenyQos Alternate ResumeTimeout
        SuspendTimeout SuspendTime PowerDownOnIdle""".split()),
)
JOB_SPEC = RecordSpec(
    known=frozenset("""JobId ArrayJobId ArrayTaskId ArrayTaskThrottle HetJobId HetJobOffset HetJobIdSet JobName
        UserId GroupId MCS_label Priority Nice Account QOS JobState Reason Dependency Requeue Restarts BatchFlag
        Reboot ExitCode DerivedExitCode RunTime TimeLimit TimeMin SubmitTime EligibleTime AccrueTime StartTime
        EndTime Deadline SuspendTime SecsPreSuspend LastSchedEval Scheduler Partition AllocNode:Sid ReqNodeList
        ExcNodeList NodeList BatchHost NumNodes NumCPUs NumTasks CPUs/Task ReqB:S:C:T TRES ReqTRES AllocTRES Socks/Node
        NtasksPerN:B:S:C CoreSpec JOB_GRES MinCPUsNode MinMemoryNode MinMemoryCPU MinTmpDiskNode Features
        ClusterFeatures Prefer DelayBoot OverSubscribe Contiguous Licenses LicensesAlloc Network Command WorkDir
        StdErr StdIn StdOut Power TresPerNode TresPerJob TresPerTask TresPerSocket CpusPerTres MemPerTres TresBind
        TresFreq MailUser MailType Comment AdminComment SystemComment Reservation BurstBuffer BurstBufferState
        Container ContainerID CronJob CrontabSpec PreemptEligibleTime PreemptTime ResizeTime NtasksPerTRES
        KillOInInvalidDependent SiblingsActive SiblingsViable FedOrigin FedViableSiblings""".split()),
    free_text=frozenset({"JobName", "Comment", "AdminComment", "SystemComment", "Command", "WorkDir", "StdErr",
                         "StdIn", "StdOut", "MailUser"}),
    detail_keys=frozenset({"Nodes", "CPU_IDs", "Mem", "GRES"}),
    detail_starts=frozenset({"JOB_GRES", "CoreSpec"}),
)


def version(text: str) -> Version:
    from .parsing import parse_version
    return parse_version(text)


def config(text: str) -> ClusterConfig:
    """`scontrol show config`: 'Key = value' lines (the first line is a header, the tail may hold
    plugin sections such as 'Cgroup Support Configuration:'; a repeated key keeps the first)."""
    values: dict = {}
    for line in (text or "").splitlines():
        if " = " not in line:
            continue
        key, _, value = line.partition(" = ")
        key = key.strip()
        if key and " " not in key:
            values.setdefault(key, value.strip())
    if "ClusterName" not in values:
        raise ParseError("`scontrol show config` output has no ClusterName")
    controllers = []
    for key in sorted((k for k in values if k.startswith("SlurmctldHost[")), key=lambda k: int(k[14:-1])):
        match = re.match(r"^([^()\s]+)(?:\(([^)]*)\))?$", values[key])
        controllers.append((match.group(1), match.group(2)) if match else (values[key], None))
    if not controllers and null(values.get("ControlMachine")):  # before 18.08
        controllers.append((values["ControlMachine"], null(values.get("ControlAddr")) or None))
    return ClusterConfig(cluster_name=values["ClusterName"], controllers=controllers,
                         gres_types=split_list(values.get("GresTypes")),
                         select_type=null(values.get("SelectType")),
                         accounting_storage_type=null(values.get("AccountingStorageType")),
                         version=null(values.get("SLURM_VERSION")), values=values)


_PING = re.compile(r"Slurmctld\((\w+)\) at (\S+) is (UP|DOWN)")


def ping(text: str) -> list:
    """`scontrol ping`: 'Slurmctld(primary) at vm is UP' (one line per controller; 23.11+ may put
    several on one line separated by '/')."""
    found = [ControllerPing(name=m.group(2), role=m.group(1), up=m.group(3) == "UP") for m in _PING.finditer(text)]
    if not found:
        raise ParseError(f"unexpected `scontrol ping` output: {text.strip()[:120]!r}")
    return found


def _reason(value: str) -> tuple:
    match = re.match(r"^(.*?)\s*\[([^\]@\s]*)@(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\]$", value or "")
    if not match:
        return null(value), "", None
    return match.group(1), match.group(2), parse_time(match.group(3))


def nodes(text: str) -> list:
    """`scontrol show node -o` (one line per node)."""
    out = []
    for rec in parse_show_lines(text, NODE_SPEC, "NodeName"):
        v = rec.values
        reason, reason_user, reason_time = _reason(v.get("Reason", ""))
        gres_text = null(v.get("Gres"))
        out.append(SlurmNode(
            name=v["NodeName"], address=null(v.get("NodeAddr")), hostname=null(v.get("NodeHostName")),
            cpus=to_int(v.get("CPUTot")), sockets=to_int(v.get("Sockets"), 1),
            cores_per_socket=to_int(v.get("CoresPerSocket"), 1), threads_per_core=to_int(v.get("ThreadsPerCore"), 1),
            real_memory_mb=to_int(v.get("RealMemory")), gres=parse_gres(gres_text), gres_text=gres_text,
            features=split_list(v.get("AvailableFeatures", v.get("Features"))),
            active_features=split_list(v.get("ActiveFeatures")),
            state=parse_node_state(v.get("State", "UNKNOWN")), reason=reason, reason_user=reason_user,
            reason_time=reason_time, partitions=split_list(v.get("Partitions")),
            cfg_tres=parse_tres(v.get("CfgTRES")), alloc_tres=parse_tres(v.get("AllocTRES")),
            cpus_allocated=to_int(v.get("CPUAlloc")), memory_allocated_mb=to_int(v.get("AllocMem")),
            free_memory_mb=to_int(v.get("FreeMem"), None), cpu_load=to_float(v.get("CPULoad")),
            slurmd_version=null(v.get("Version")), os=null(v.get("OS")), boot_time=parse_time(v.get("BootTime")),
            slurmd_start_time=parse_time(v.get("SlurmdStartTime")), extra=dict(v)))
    return out


def _all_or_list(value: str | None):
    text = null(value)
    return None if not text or text.upper() == "ALL" else split_list(text)


_PARTITION_FIELDS = {"PartitionName", "Nodes", "Default", "MaxTime", "DefaultTime", "State", "AllowAccounts",
                     "AllowQos", "AllowGroups", "DenyAccounts", "DenyQos", "PriorityTier", "TotalCPUs",
                     "TotalNodes", "TRES"}


def partitions(text: str) -> list:
    """`scontrol show partition -o`; node lists expanded exactly (lab-node1 is not lab-node10)."""
    out = []
    for rec in parse_show_lines(text, PARTITION_SPEC, "PartitionName"):
        v = rec.values
        expr = null(v.get("Nodes"))
        out.append(Partition(
            name=v["PartitionName"], nodes=hostlist.expand(expr), nodes_expr=expr,
            default=v.get("Default", "NO").upper() == "YES", max_time_minutes=parse_minutes(v.get("MaxTime")),
            default_time_minutes=parse_minutes(v.get("DefaultTime")), state=null(v.get("State")) or "UP",
            allow_accounts=_all_or_list(v.get("AllowAccounts")), allow_qos=_all_or_list(v.get("AllowQos")),
            allow_groups=_all_or_list(v.get("AllowGroups")), deny_accounts=split_list(v.get("DenyAccounts")),
            deny_qos=split_list(v.get("DenyQos")), priority_tier=to_int(v.get("PriorityTier"), 1),
            total_cpus=to_int(v.get("TotalCPUs")), total_nodes=to_int(v.get("TotalNodes")),
            tres=parse_tres(v.get("TRES")),
            options={k: val for k, val in v.items() if k not in _PARTITION_FIELDS}))
    return out


RESERVATION_SPEC = RecordSpec(
    known=frozenset("""ReservationName StartTime EndTime Duration Nodes NodeCnt CoreCnt Features PartitionName Flags
        TRES Users Groups Accounts Licenses State BurstBuffer Watts MaxStartDelay Comment NodeList""".split()),
    free_text=frozenset({"Comment"}),
)


def reservations(text: str) -> list:
    """`scontrol show reservation -o` ('No reservations in the system' gives [])."""
    out = []
    for rec in parse_show_lines(text, RESERVATION_SPEC, "ReservationName"):
        v = rec.values
        expr = null(v.get("Nodes"))
        out.append(Reservation(
            name=v["ReservationName"], start_time=parse_time(v.get("StartTime")), end_time=parse_time(v.get("EndTime")),
            duration_minutes=parse_minutes(v.get("Duration")), nodes=hostlist.expand(expr), nodes_expr=expr,
            partition=null(v.get("PartitionName")), flags=split_list(v.get("Flags")), users=split_list(v.get("Users")),
            accounts=split_list(v.get("Accounts")), groups=split_list(v.get("Groups")), tres=parse_tres(v.get("TRES")),
            state=null(v.get("State")), extra=dict(v)))
    return out


SINFO_FORMAT = "%N|%P|%T|%c|%m|%G|%O|%e|%o|%f|%C|%E"  # reason last: it is free text
_SINFO_FIELDS = 12


def sinfo_nodes(text: str) -> list:
    """`sinfo -N -h -o SINFO_FORMAT`: one row per node and partition."""
    out = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = line.split("|", _SINFO_FIELDS - 1)
        if len(parts) != _SINFO_FIELDS:
            raise ParseError(f"sinfo line has {len(parts)} fields, expected {_SINFO_FIELDS}: {line[:80]!r}")
        node, part, state, cpus, mem, gres, load, free, addr, feats, cpu_counts, reason = parts
        counts = [to_int(c) for c in cpu_counts.split("/")] if cpu_counts.count("/") == 3 else [0, 0, 0, 0]
        out.append(SinfoRow(node=node, partition=part.rstrip("*"), default_partition=part.endswith("*"),
                            state=state, cpus=to_int(cpus), memory_mb=to_int(mem), gres=null(gres),
                            reason="" if reason.strip() == "none" else null(reason), address=null(addr),
                            features=split_list(feats if feats != "(null)" else ""), cpus_allocated=counts[0],
                            cpus_idle=counts[1], cpus_other=counts[2], free_memory_mb=to_int(free, None),
                            cpu_load=to_float(load)))
    return out


# squeue --Format: ':0' = no width limit, '|' = suffix used as delimiter; Name last (free text).
SQUEUE_FIELDS = ("JobID", "ArrayJobID", "ArrayTaskID", "UserName", "Account", "Partition", "State", "Reason",
                 "NodeList", "NumCPUs", "NumNodes", "MinMemory", "TimeLimit", "TimeUsed", "SubmitTime", "StartTime",
                 "EndTime", "QOS", "PriorityLong", "tres-alloc", "tres-per-node", "Name")
SQUEUE_FORMAT = ",".join(f"{f}:0|" for f in SQUEUE_FIELDS[:-1]) + f",{SQUEUE_FIELDS[-1]}:0"


def _job_id(job_id: str, array_job: str, array_task: str) -> str:
    task = null(array_task)
    return f"{array_job}_{task}" if task and null(array_job) else job_id


def squeue(text: str) -> list:
    """`squeue -h -a -r -O SQUEUE_FORMAT`."""
    out, width = [], len(SQUEUE_FIELDS)
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = line.split("|", width - 1)
        if len(parts) != width:
            raise ParseError(f"squeue line has {len(parts)} fields, expected {width}: {line[:80]!r}")
        f = dict(zip(SQUEUE_FIELDS, parts))
        out.append(Job(
            job_id=_job_id(f["JobID"].strip(), f["ArrayJobID"].strip(), f["ArrayTaskID"]), name=f["Name"],
            user=f["UserName"].strip(), account=null(f["Account"]), partition=null(f["Partition"]),
            state=JobState.parse(f["State"]), reason=null(f["Reason"]), nodes=hostlist.expand(null(f["NodeList"])),
            cpus=to_int(f["NumCPUs"]), num_nodes=to_int(f["NumNodes"]), memory_mb=parse_memory_mb(f["MinMemory"]),
            time_limit_minutes=parse_minutes(f["TimeLimit"]), submit_time=parse_time(f["SubmitTime"]),
            start_time=parse_time(f["StartTime"]), end_time=parse_time(f["EndTime"]), qos=null(f["QOS"]),
            priority=to_int(f["PriorityLong"], None), tres=parse_tres(f["tres-alloc"]),
            tres_per_node=null(f["tres-per-node"]),
            array_job_id=null(f["ArrayJobID"]) if null(f["ArrayTaskID"]) else "",
            array_task_id=null(f["ArrayTaskID"]), time_used=null(f["TimeUsed"])))
    return out


def _low(value: str | None) -> int:
    """A pending job's requested range ('1-1', '2-4'): its lower bound; a plain count as it is."""
    text = null(value)
    return to_int(text.split("-")[0] if text and text[0].isdigit() else text)


def _user(value: str) -> str:
    """'alice(1000)' -> 'alice'."""
    return null(value).split("(")[0]


def _gpu_indexes(details: list) -> dict:
    out: dict = {}
    for block in details:
        idx = [i for g in parse_gres(block.get("GRES", "")) if g.name == "gpu" for i in g.indexes]
        if idx:
            for node in hostlist.expand(block.get("Nodes", "")):
                out.setdefault(node, []).extend(idx)
    return out


def jobs(text: str) -> list:
    """`scontrol show job -d -o [id]`: full records incl. the GPU indexes held per node."""
    out = []
    for rec in parse_show_lines(text, JOB_SPEC, "JobId"):
        v = rec.values
        array_job, array_task = null(v.get("ArrayJobId")), null(v.get("ArrayTaskId"))
        out.append(Job(
            job_id=f"{array_job}_{array_task}" if array_job and array_task else v["JobId"], name=v.get("JobName", ""),
            user=_user(v.get("UserId", "")), account=null(v.get("Account")), partition=null(v.get("Partition")),
            state=JobState.parse(v.get("JobState", "")), reason=null(v.get("Reason")),
            nodes=hostlist.expand(null(v.get("NodeList"))), cpus=_low(v.get("NumCPUs")),
            num_nodes=_low(v.get("NumNodes")), memory_mb=parse_memory_mb(v.get("MinMemoryNode")),
            time_limit_minutes=parse_minutes(v.get("TimeLimit")), submit_time=parse_time(v.get("SubmitTime")),
            start_time=parse_time(v.get("StartTime")), end_time=parse_time(v.get("EndTime")),
            qos=null(v.get("QOS")), priority=to_int(v.get("Priority"), None),
            tres=parse_tres(null(v.get("AllocTRES")) or null(v.get("TRES")) or v.get("ReqTRES")),
            tres_per_node=null(v.get("TresPerNode")),
            array_job_id=array_job if array_task else "", array_task_id=array_task,
            gpu_indexes=_gpu_indexes(rec.details), exit_code=null(v.get("ExitCode")), work_dir=null(v.get("WorkDir")),
            stdout_path=null(v.get("StdOut")), stderr_path=null(v.get("StdErr")), time_used=null(v.get("RunTime")),
            ambiguous=rec.ambiguous, extra=dict(v)))
    return out


SACCT_FIELDS = ("JobID", "User", "Account", "Partition", "State", "ExitCode", "Submit", "Start", "End", "Elapsed",
                "Timelimit", "NCPUS", "NNodes", "NodeList", "ReqMem", "AllocTRES", "QOS", "JobName")


def sacct(text: str) -> list:
    """`sacct -P -n -X --format=SACCT_FIELDS` (JobName last: it may contain the delimiter)."""
    out, width = [], len(SACCT_FIELDS)
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = line.split("|", width - 1)
        if len(parts) != width:
            raise ParseError(f"sacct line has {len(parts)} fields, expected {width}: {line[:80]!r}")
        f = dict(zip(SACCT_FIELDS, parts))
        out.append(AcctJob(
            job_id=f["JobID"], name=f["JobName"], user=f["User"], account=f["Account"], partition=f["Partition"],
            state=JobState.parse(f["State"]), state_text=f["State"], exit_code=f["ExitCode"],
            submit_time=parse_time(f["Submit"]), start_time=parse_time(f["Start"]), end_time=parse_time(f["End"]),
            elapsed_seconds=parse_seconds(f["Elapsed"]) or 0, time_limit_minutes=parse_minutes(f["Timelimit"]),
            cpus=to_int(f["NCPUS"]), num_nodes=to_int(f["NNodes"]), nodes=hostlist.expand(null(f["NodeList"])
                                                                                        .replace("None assigned", "")),
            requested_memory=f["ReqMem"], tres=parse_tres(f["AllocTRES"]), qos=f["QOS"]))
    return out


def _rows(text: str, fields: tuple, what: str) -> list:
    out = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) == len(fields) + 1 and parts[-1] == "":  # sacctmgr -P ends some rows with '|'
            parts = parts[:-1]
        if len(parts) != len(fields):
            raise ParseError(f"{what} line has {len(parts)} fields, expected {len(fields)}: {line[:80]!r}")
        out.append(dict(zip(fields, parts)))
    return out


ASSOC_FIELDS = ("Cluster", "Account", "User", "Partition", "ParentName", "Share", "GrpJobs", "GrpSubmitJobs",
                "GrpTRES", "GrpTRESMins", "GrpWall", "MaxJobs", "MaxSubmitJobs", "MaxTRES", "MaxTRESPerNode",
                "MaxTRESMins", "MaxWall", "QOS", "DefaultQOS")


def associations(text: str) -> list:
    """`sacctmgr -P -n show assoc format=ASSOC_FIELDS`."""
    return [Association(
        cluster=r["Cluster"], account=r["Account"], user=r["User"], partition=r["Partition"], parent=r["ParentName"],
        share=r["Share"], grp_jobs=to_int(r["GrpJobs"], None), grp_submit_jobs=to_int(r["GrpSubmitJobs"], None),
        grp_tres=parse_tres(r["GrpTRES"]), grp_tres_mins=parse_tres(r["GrpTRESMins"]),
        grp_wall_minutes=parse_minutes(r["GrpWall"]), max_jobs=to_int(r["MaxJobs"], None),
        max_submit_jobs=to_int(r["MaxSubmitJobs"], None), max_tres_per_job=parse_tres(r["MaxTRES"]),
        max_tres_per_node=parse_tres(r["MaxTRESPerNode"]), max_tres_mins_per_job=parse_tres(r["MaxTRESMins"]),
        max_wall_minutes=parse_minutes(r["MaxWall"]), qos=tuple(split_list(r["QOS"])), default_qos=r["DefaultQOS"])
        for r in _rows(text, ASSOC_FIELDS, "sacctmgr show assoc")]


QOS_FIELDS = ("Name", "Priority", "GrpTRES", "GrpTRESMins", "GrpJobs", "MaxJobsPerUser", "MaxSubmitJobsPerUser",
              "MaxTRESPerJob", "MaxTRESPerUser", "MaxWall", "Flags")


def qos(text: str) -> list:
    """`sacctmgr -P -n show qos format=QOS_FIELDS`."""
    return [Qos(
        name=r["Name"], priority=to_int(r["Priority"]), grp_tres=parse_tres(r["GrpTRES"]),
        grp_tres_mins=parse_tres(r["GrpTRESMins"]), grp_jobs=to_int(r["GrpJobs"], None),
        max_jobs_per_user=to_int(r["MaxJobsPerUser"], None),
        max_submit_jobs_per_user=to_int(r["MaxSubmitJobsPerUser"], None),
        max_tres_per_job=parse_tres(r["MaxTRESPerJob"]), max_tres_per_user=parse_tres(r["MaxTRESPerUser"]),
        max_wall_minutes=parse_minutes(r["MaxWall"]), flags=tuple(split_list(r["Flags"])))
        for r in _rows(text, QOS_FIELDS, "sacctmgr show qos")]


ACCOUNT_FIELDS = ("Account", "Description", "Organization")
USER_FIELDS = ("User", "DefaultAccount", "Admin")


def accounts(text: str) -> list:
    return [Account(name=r["Account"], description=r["Description"], organization=r["Organization"])
            for r in _rows(text, ACCOUNT_FIELDS, "sacctmgr show account")]


def users(text: str) -> list:
    return [SlurmUser(name=r["User"], default_account=r["DefaultAccount"], admin_level=r["Admin"])
            for r in _rows(text, USER_FIELDS, "sacctmgr show user")]


def submit(text: str):
    """`sbatch --parsable`: '42' or '42;cluster'."""
    from .records import SubmitResult
    line = (text or "").strip().splitlines()[-1:] or [""]
    match = re.fullmatch(r"(\d+)(?:;(\S+))?", line[0].strip())
    if not match:
        raise ParseError(f"sbatch did not print a job id: {(text or '').strip()[:120]!r}")
    return SubmitResult(job_id=match.group(1), cluster=match.group(2) or "")


__all__ = ["version", "config", "ping", "nodes", "partitions", "reservations", "sinfo_nodes", "squeue", "jobs", "sacct",
           "associations", "qos", "accounts", "users", "submit", "SINFO_FORMAT", "SQUEUE_FORMAT", "SACCT_FIELDS",
           "ASSOC_FIELDS", "QOS_FIELDS", "ACCOUNT_FIELDS", "USER_FIELDS", "parse_record"]
