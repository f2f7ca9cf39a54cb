"""The Slurm client: one interface (`SlurmBackend`) and its SSH implementation (`SshSlurm`).

`SshSlurm(run)` takes the transport as a function `run(argv, *, stdin, timeout) -> Result` (the
portal passes one that calls apps.nodes.remote.run on the cluster's controller or login node;
tests pass a local subprocess runner). Every command is an argv list with a timeout; scripts go
on stdin; each value placed in argv is validated first (validate.py). A slurmrestd backend can
implement the same interface later.
"""
from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from . import parsers, validate
from .errors import (CommandFailed, CommandNotFound, CommandTimeout, InvalidName, NotFound, ParseError,
                     PermissionDenied, SlurmError, TransportError, UnsupportedVersion)
from .parsing import format_minutes
from .records import (ClusterConfig, Job, JobSubmission, NodeAction, SubmitResult, Version)

MIN_VERSION = Version(20, 11, 0)
MAX_SCRIPT_BYTES = 1 << 20
DEFAULT_OUTPUT_BYTES = 64 * 1024
MAX_OUTPUT_BYTES = 1 << 20


class Result(Protocol):
    """What `run` returns; apps.nodes.ssh.Result fits."""

    exit_status: int
    stdout: str
    stderr: str


Runner = Callable[..., Result]


@dataclass(frozen=True)
class OutputChunk:
    text: str
    offset: int  # byte offset of `text` in the file (-1: the tail, offset unknown)
    next_offset: int  # where the next read continues (-1 after a tail read)


class SlurmBackend(abc.ABC):
    """Everything the portal asks of a Slurm cluster. Implementations raise SlurmError subclasses."""

    @abc.abstractmethod
    def version(self) -> Version: ...

    @abc.abstractmethod
    def config(self) -> ClusterConfig: ...

    @abc.abstractmethod
    def ping(self) -> list: ...

    @abc.abstractmethod
    def nodes(self, names: Iterable[str] | None = None) -> list: ...

    @abc.abstractmethod
    def partitions(self) -> list: ...

    @abc.abstractmethod
    def sinfo(self) -> list: ...

    @abc.abstractmethod
    def reservations(self) -> list: ...

    @abc.abstractmethod
    def queue(self, *, users=None, accounts=None, states=None, partitions=None, with_finished: bool = False) -> list: ...

    @abc.abstractmethod
    def job_details(self, job_id: str | None = None) -> list: ...

    @abc.abstractmethod
    def submit(self, job: JobSubmission, *, as_user: str | None) -> SubmitResult: ...

    @abc.abstractmethod
    def cancel(self, job_id: str, *, as_user: str | None = None) -> None: ...

    @abc.abstractmethod
    def hold(self, job_id: str, *, as_user: str | None = None) -> None: ...

    @abc.abstractmethod
    def release(self, job_id: str, *, as_user: str | None = None) -> None: ...

    @abc.abstractmethod
    def requeue(self, job_id: str, *, as_user: str | None = None) -> None: ...

    @abc.abstractmethod
    def signal(self, job_id: str, signal: str, *, as_user: str | None = None) -> None: ...

    @abc.abstractmethod
    def update_nodes(self, nodes, action: NodeAction, reason: str = "") -> None: ...

    @abc.abstractmethod
    def reconfigure(self) -> None: ...

    @abc.abstractmethod
    def read_output(self, path: str, *, as_user: str | None = None, offset: int | None = None,
                    max_bytes: int = DEFAULT_OUTPUT_BYTES) -> OutputChunk: ...

    @abc.abstractmethod
    def history(self, start: datetime, end: datetime | None = None, *, users=None, accounts=None, states=None,
                job_ids=None) -> list: ...

    @abc.abstractmethod
    def associations(self, *, accounts=None, users=None) -> list: ...

    @abc.abstractmethod
    def qos(self) -> list: ...

    @abc.abstractmethod
    def accounts(self) -> list: ...

    @abc.abstractmethod
    def users(self) -> list: ...

    @abc.abstractmethod
    def apply_accounting(self, commands: Iterable) -> list: ...


_NOT_FOUND = ("Invalid job id specified", "Invalid node name specified", "Invalid partition name specified",
              "not found", "does not exist")
_DENIED = ("Access/permission denied", "Permission denied", "a password is required", "is not allowed to execute",
           "not in the sudoers", "Only root")


class SshSlurm(SlurmBackend):
    """Slurm over SSH (or any `run` with the same signature).

    timeout: seconds for each command (override per call where noted); remote_timeout: also wrap
    each command in coreutils `timeout` so it dies on the host even if the SSH channel is lost;
    large_output: bytes to allow for the big reads (queue, job details, history), passed to `run`
    as `max_output=` only when set (apps.nodes.ssh keeps 1 MiB by default; 10,000 jobs print about
    1.7 MB through squeue and 12 MB through `scontrol show job -d`). Truncated output is never parsed.
    """

    def __init__(self, run: Runner, *, timeout: float = 30.0, remote_timeout: bool = True,
                 min_version: Version = MIN_VERSION, large_output: int | None = None):
        self._run, self.timeout, self.remote_timeout, self.min_version = run, timeout, remote_timeout, min_version
        self.large_output = large_output

    # -- the one place commands are run ------------------------------------------------------

    def command(self, argv: list[str], *, stdin: bytes | None = None, timeout: float | None = None,
                as_user: str | None = None, ok_status: tuple = (0,), large: bool = False) -> Result:
        """Run argv (optionally as `as_user` through `sudo -n -u USER --`); raise on failure."""
        if not argv or not all(isinstance(a, str) for a in argv):
            raise TypeError("argv must be a non-empty list of str")
        seconds = self.timeout if timeout is None else timeout
        full = list(argv)
        if as_user is not None:
            full = ["sudo", "-n", "-u", _run_as(as_user), "--", *full]
        if self.remote_timeout:
            full = ["timeout", "-k", "5", f"{seconds:g}", *full]
        extra = {"max_output": self.large_output} if large and self.large_output else {}
        try:
            result = self._run(full, stdin=stdin, timeout=seconds + (10 if self.remote_timeout else 0), **extra)
        except SlurmError:
            raise
        except TimeoutError:
            raise CommandTimeout(argv, seconds) from None
        except Exception as exc:  # noqa: BLE001 - any transport failure becomes one readable error
            if type(exc).__name__ in ("CommandTimeout", "DeadlineExceeded"):
                raise CommandTimeout(argv, seconds) from None
            raise TransportError(f"could not run `{argv[0]}`: {exc}") from None
        if getattr(result, "stdout_truncated", False):
            raise ParseError(f"`{' '.join(argv[:2])}` printed more output than the transport keeps; "
                             "narrow the request (filters) or raise the transport's output limit")
        if result.exit_status in ok_status:
            return result
        raise _failure(argv, result, self.remote_timeout, seconds)

    def _text(self, argv: list[str], **kw) -> str:
        return self.command(argv, **kw).stdout

    # -- discovery ---------------------------------------------------------------------------

    def version(self) -> Version:
        """`scontrol --version`; UnsupportedVersion below min_version."""
        found = parsers.version(self._text(["scontrol", "--version"]))
        if found < self.min_version:
            raise UnsupportedVersion(f"Slurm {found} is older than the supported {self.min_version}")
        return found

    def config(self) -> ClusterConfig:
        return parsers.config(self._text(["scontrol", "show", "config"]))

    def ping(self) -> list:
        """`scontrol ping`: one ControllerPing per controller (exit 1 when one is down: still parsed)."""
        argv = ["scontrol", "ping"]
        result = self.command(argv, ok_status=(0, 1))
        if result.exit_status != 0 and "Slurmctld(" not in result.stdout:
            raise _failure(argv, result, self.remote_timeout, self.timeout)
        return parsers.ping(result.stdout)

    def nodes(self, names: Iterable[str] | None = None) -> list:
        argv = ["scontrol", "show", "node", "-o"]
        if names is not None:
            argv.append(validate.node_list(list(names)))
        return parsers.nodes(self._text(argv))

    def partitions(self) -> list:
        return parsers.partitions(self._text(["scontrol", "show", "partition", "-o"]))

    def sinfo(self) -> list:
        return parsers.sinfo_nodes(self._text(["sinfo", "-N", "-h", "-o", parsers.SINFO_FORMAT]))

    def reservations(self) -> list:
        return parsers.reservations(self._text(["scontrol", "show", "reservation", "-o"]))

    # -- jobs ----------------------------------------------------------------------------------

    def queue(self, *, users=None, accounts=None, states=None, partitions=None, with_finished: bool = False) -> list:
        """Active jobs (pending, running, suspended, completing) in one squeue call; array tasks one
        row each. Filters are lists of names; states are JobState members or names.
        `with_finished`: every job slurmctld still holds (`--states=all`), those that ended within
        MinJobAge too, with their final state (what a sync needs on clusters without accounting)."""
        argv = ["squeue", "-h", "-a", "-r", "-O", parsers.SQUEUE_FORMAT]
        argv += _list_option("--user", users, validate.user_name)
        argv += _list_option("--account", accounts, validate.account_name)
        argv += _list_option("--partition", partitions, validate.partition_name)
        if with_finished and not states:
            argv.append("--states=all")
        argv += _list_option("--states", states, _state_name)
        return parsers.squeue(self._text(argv, large=True))

    def job_details(self, job_id: str | None = None) -> list:
        """`scontrol show job -d -o [id]`: full records with GPU indexes per node ([] when the id is
        unknown: finished jobs leave slurmctld after MinJobAge)."""
        argv = ["scontrol", "show", "job", "-d", "-o"]
        if job_id is not None:
            argv.append(validate.job_id(job_id))
        try:
            return parsers.jobs(self._text(argv, large=job_id is None))
        except NotFound:
            return []

    def job_gpu_indexes(self, job_ids: Iterable[str]) -> dict:
        """{job_id: {node: [gpu index]}} for the given jobs, one `scontrol show job -d -o ID` each:
        the cheap way to learn which GPUs newly started jobs hold when the queue itself comes from
        `queue()` (squeue prints no indexes). Jobs no longer known are left out."""
        out = {}
        for job_id in job_ids:
            for job in self.job_details(job_id):
                out[job.job_id] = job.gpu_indexes
        return out

    def job(self, job_id: str) -> Job:
        found = self.job_details(job_id)
        if not found:
            raise NotFound(f"job {job_id} is not known to slurmctld (finished long ago? see the history)")
        return found[0]

    def submit(self, job: JobSubmission, *, as_user: str | None) -> SubmitResult:
        """`sbatch --parsable` with the script on stdin, run as `as_user` (sudo -n -u); None runs it
        as the SSH login user (only for service accounts: the portal passes the mapped user)."""
        argv = ["sbatch", "--parsable", *sbatch_options(job, as_user=as_user)]
        return parsers.submit(self._text(argv, stdin=_script(job.script), as_user=as_user))

    def cancel(self, job_id: str, *, as_user: str | None = None) -> None:
        self.command(["scancel", validate.job_id(job_id)], as_user=as_user)

    def hold(self, job_id: str, *, as_user: str | None = None) -> None:
        self.command(["scontrol", "hold", validate.job_id(job_id)], as_user=as_user)

    def release(self, job_id: str, *, as_user: str | None = None) -> None:
        self.command(["scontrol", "release", validate.job_id(job_id)], as_user=as_user)

    def requeue(self, job_id: str, *, as_user: str | None = None) -> None:
        self.command(["scontrol", "requeue", validate.job_id(job_id)], as_user=as_user)

    def signal(self, job_id: str, signal: str, *, as_user: str | None = None) -> None:
        """Signal every step and the batch shell (`scancel --full -s SIG`)."""
        self.command(["scancel", "--full", "-s", validate.signal_name(signal), validate.job_id(job_id)],
                     as_user=as_user)

    def read_output(self, path: str, *, as_user: str | None = None, offset: int | None = None,
                    max_bytes: int = DEFAULT_OUTPUT_BYTES) -> OutputChunk:
        """A job's output file, bounded: the last `max_bytes` (offset None), or up to `max_bytes`
        from byte `offset` (poll with next_offset while the job runs). Runs as the job's user."""
        path = validate.path(path)
        size = validate.positive(max_bytes, "max_bytes", maximum=MAX_OUTPUT_BYTES)
        if offset is None:
            text = self._text(["tail", "-c", str(size), "--", path], as_user=as_user)
            return OutputChunk(text=text, offset=-1, next_offset=-1)
        start = validate.positive(offset, "offset", maximum=1 << 50, allow_zero=True)
        text = self._text(["dd", f"if={path}", "bs=65536", "iflag=skip_bytes,count_bytes", f"skip={start}",
                           f"count={size}", "status=none"], as_user=as_user)
        text = text.rstrip("\ufffd")  # a multi-byte character cut at the chunk's end is read again next time
        return OutputChunk(text=text, offset=start, next_offset=start + len(text.encode("utf-8")))

    def history(self, start: datetime, end: datetime | None = None, *, users=None, accounts=None, states=None,
                job_ids=None) -> list:
        """sacct rows (one per allocation) for jobs active in [start, end] (end None: now)."""
        argv = ["sacct", "-P", "-n", "-X", "--format=" + ",".join(parsers.SACCT_FIELDS),
                "--starttime=" + _when(start, "start"), "--endtime=" + (_when(end, "end") if end else "now")]
        argv += _list_option("--user", users, validate.user_name) or ["--allusers"]
        argv += _list_option("--accounts", accounts, validate.account_name)
        argv += _list_option("--state", states, _state_name)
        argv += _list_option("--jobs", job_ids, validate.job_id)
        return parsers.sacct(self._text(argv, timeout=max(self.timeout, 60), large=True))

    # -- nodes and controller --------------------------------------------------------------------

    def update_nodes(self, nodes, action: NodeAction, reason: str = "") -> None:
        """`scontrol update NodeName=<exact names> State=<action> [Reason=<text>]` (the reason is one
        argv element; DRAIN and DOWN require one)."""
        action = NodeAction(action)
        argv = ["scontrol", "update", "NodeName=" + validate.node_list(nodes), "State=" + action.value]
        text = validate.reason(reason, required=action.needs_reason)
        if text:
            argv.append("Reason=" + text)
        self.command(argv)

    def reconfigure(self) -> None:
        self.command(["scontrol", "reconfigure"], timeout=max(self.timeout, 60))

    # -- accounting ----------------------------------------------------------------------------

    def associations(self, *, accounts=None, users=None) -> list:
        argv = ["sacctmgr", "-P", "-n", "show", "assoc", "format=" + ",".join(parsers.ASSOC_FIELDS)]
        if accounts:
            argv.append("accounts=" + ",".join(validate.account_name(a) for a in accounts))
        if users:
            argv.append("users=" + ",".join(validate.user_name(u) for u in users))
        return parsers.associations(self._text(argv))

    def qos(self) -> list:
        return parsers.qos(self._text(["sacctmgr", "-P", "-n", "show", "qos",
                                       "format=" + ",".join(parsers.QOS_FIELDS)]))

    def accounts(self) -> list:
        return parsers.accounts(self._text(["sacctmgr", "-P", "-n", "show", "account",
                                            "format=" + ",".join(parsers.ACCOUNT_FIELDS)]))

    def users(self) -> list:
        return parsers.users(self._text(["sacctmgr", "-P", "-n", "show", "user",
                                         "format=" + ",".join(parsers.USER_FIELDS)]))

    def apply_accounting(self, commands: Iterable) -> list:
        """Run SacctmgrCommand items (from accounting.diff) in order with `sacctmgr -i`; stops at the
        first failure (CommandFailed names it). Returns the commands run."""
        done = []
        for cmd in commands:
            self.command(cmd.argv)
            done.append(cmd)
        return done


# -- helpers -------------------------------------------------------------------------------------

def _run_as(user: str) -> str:
    name = validate.user_name(user, "as_user")
    if name == "root":
        raise InvalidName("as_user", "jobs never run as root: map the portal user to a cluster account")
    return name


def _script(script: str) -> bytes:
    if not isinstance(script, str) or not script.strip():
        raise InvalidName("script", "the batch script is empty")
    if not script.startswith("#!"):
        raise InvalidName("script", "the batch script must start with '#!' and an interpreter, e.g. #!/bin/bash")
    if "\0" in script:
        raise InvalidName("script", "the batch script may not contain NUL characters")
    data = script.encode("utf-8")
    if len(data) > MAX_SCRIPT_BYTES:
        raise InvalidName("script", f"the batch script is larger than {MAX_SCRIPT_BYTES // 1024} KiB")
    return data


def sbatch_options(job: JobSubmission, *, as_user: str | None = None) -> list:
    """JobSubmission -> validated sbatch options, one argv element each."""
    opts = []
    if job.name:
        opts.append("--job-name=" + validate.job_name(job.name))
    if job.partition:
        opts.append("--partition=" + validate.partition_name(job.partition))
    if job.account:
        opts.append("--account=" + validate.account_name(job.account))
    if job.qos:
        opts.append("--qos=" + validate.qos_name(job.qos))
    for flag, value, field, maximum in (("--nodes", job.nodes, "nodes", 100000),
                                        ("--ntasks", job.ntasks, "ntasks", 10 ** 7),
                                        ("--cpus-per-task", job.cpus_per_task, "cpus_per_task", 100000),
                                        ("--mem", job.memory_mb, "memory_mb", 1 << 40),
                                        ("--time", job.time_limit_minutes, "time_limit_minutes", 10 ** 7)):
        if value is not None:
            validate.positive(value, field, maximum=maximum)
            opts.append(f"{flag}=" + (f"{value}M" if flag == "--mem" else
                                      format_minutes(value) if flag == "--time" else str(value)))
    if job.gpu_type:
        validate.gres_type(job.gpu_type)
        if not job.gpus:
            raise InvalidName("gpus", "a GPU type needs a number of GPUs")
    if job.gpus:
        validate.positive(job.gpus, "gpus", maximum=1024)
        gtype = f"{validate.gres_type(job.gpu_type)}:" if job.gpu_type else ""
        opts.append(f"--gres=gpu:{gtype}{job.gpus}")
    if job.constraint:
        opts.append("--constraint=" + validate.feature_expression(job.constraint))
    for flag, value, field in (("--output", job.output, "output"), ("--error", job.error, "error")):
        if value:
            opts.append(f"{flag}=" + validate.path(value, field))
    if job.work_dir:
        opts.append("--chdir=" + validate.path(job.work_dir, "work_dir"))
    elif as_user is not None:
        raise InvalidName("work_dir", "a working directory is required when the job runs as another user "
                                      "(the default would be the SSH login's directory)")
    if job.comment:
        opts.append("--comment=" + validate.comment(job.comment))
    if job.hold:
        opts.append("--hold")
    if job.exclusive:
        opts.append("--exclusive")
    return opts


def _list_option(flag: str, values, check) -> list:
    if not values:
        return []
    if isinstance(values, str):
        values = [values]
    return [f"{flag}=" + ",".join(check(v) for v in values)]


def _state_name(state) -> str:
    from .records import JobState
    value = getattr(state, "value", state)
    if not isinstance(value, str) or JobState.parse(value) == JobState.UNKNOWN and value.upper() != "UNKNOWN":
        raise InvalidName("states", f"{value!r} is not a Slurm job state")
    return JobState.parse(value).value


def _when(moment: datetime, field: str) -> str:
    if not isinstance(moment, datetime):
        raise InvalidName(field, "a datetime is required")
    return moment.replace(microsecond=0, tzinfo=None).isoformat()


def _failure(argv: list[str], result, remote_timeout: bool, seconds: float) -> SlurmError:
    status, err, out = result.exit_status, result.stderr or "", result.stdout or ""
    text = err + "\n" + out
    if remote_timeout and status in (124, 137):
        return CommandTimeout(argv, seconds)
    if status == 127 or "command not found" in text or f"{argv[0]}: not found" in text or \
            (status == 1 and "sudo:" in err and "command not found" in err):
        return CommandNotFound(argv, status, err, out)
    if any(marker in text for marker in _DENIED):
        return PermissionDenied(argv, status, err, out)
    if any(marker in text for marker in _NOT_FOUND):
        exc = NotFound(CommandFailed(argv, status, err, out).args[0])
        exc.stderr = err
        return exc
    return CommandFailed(argv, status, err, out)
