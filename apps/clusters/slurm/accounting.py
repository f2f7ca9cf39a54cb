"""Slurm accounts, users and limits as desired state, and the sacctmgr commands that reach it.

ColdFront style: `diff(current, desired)` returns the commands as data (a dry run to show before
anything changes, and the drift check: an empty list means in sync); `SshSlurm.apply_accounting`
runs them. Only accounts named in the desired state are touched; users are removed from them only
with `prune_users=True`.

Inheritance (measured on 22.05): `sacctmgr show assoc` prints a user association with the Max*
limits and QOS it inherits from its account, not with the account's Grp* limits (those bind the
account's jobs as a group); `-1` clears a user's own limit. A user limit left None in the desired
state therefore means "whatever the account has".
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from . import validate
from .errors import InvalidName
from .parsing import format_minutes, format_tres
from .records import Account, Association, Qos


class Op(str, enum.Enum):
    ADD = "add"
    MODIFY = "modify"
    DELETE = "delete"


class Entity(str, enum.Enum):
    ACCOUNT = "account"
    USER = "user"
    QOS = "qos"


@dataclass(frozen=True)
class Limits:
    """Limits of one association or QOS; None = not set (inherit / unlimited)."""

    grp_tres: dict = field(default_factory=dict)  # {'gres/gpu': 8}: at once, all jobs of the association
    grp_tres_mins: dict = field(default_factory=dict)  # {'gres/gpu': 60000}: GPU-minutes budget
    max_tres_per_job: dict = field(default_factory=dict)  # {'gres/gpu': 2}: GPUs per job
    max_jobs: int | None = None  # running at once (per user for a user association)
    max_submit_jobs: int | None = None
    max_wall_minutes: int | None = None
    qos: tuple = ()  # allowed QOS ('' = inherit)
    default_qos: str = ""


@dataclass(frozen=True)
class AccountSpec:
    name: str
    description: str = ""
    organization: str = ""
    parent: str = "root"
    limits: Limits = Limits()


@dataclass(frozen=True)
class UserSpec:
    name: str
    account: str
    limits: Limits = Limits()


@dataclass(frozen=True)
class QosSpec:
    name: str
    priority: int = 0
    max_tres_per_job: dict = field(default_factory=dict)
    max_tres_per_user: dict = field(default_factory=dict)
    max_jobs_per_user: int | None = None
    max_wall_minutes: int | None = None
    grp_tres: dict = field(default_factory=dict)


@dataclass
class DesiredState:
    cluster: str
    accounts: list = field(default_factory=list)  # [AccountSpec]
    users: list = field(default_factory=list)  # [UserSpec]
    qos: list = field(default_factory=list)  # [QosSpec]


@dataclass
class CurrentState:
    """What Slurm has now: from SshSlurm.accounts(), .associations(), .qos()."""

    cluster: str
    accounts: list = field(default_factory=list)  # [Account]
    associations: list = field(default_factory=list)  # [Association]
    qos: list = field(default_factory=list)  # [Qos]


@dataclass(frozen=True)
class SacctmgrCommand:
    op: Op
    entity: Entity
    name: str
    argv: tuple
    summary: str  # one line for the dry-run page: 'set MaxJobs 10 -> 4 on physics/alice'

    def __str__(self) -> str:
        return " ".join(self.argv)


_TRES_FIELDS = (("grp_tres", "GrpTRES"), ("grp_tres_mins", "GrpTRESMins"), ("max_tres_per_job", "MaxTRES"))
_INT_FIELDS = (("max_jobs", "MaxJobs"), ("max_submit_jobs", "MaxSubmitJobs"))


def _tres_text(tres: dict) -> str:
    for key, value in tres.items():
        validate.tres_key(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < -1:
            raise InvalidName(key, "a TRES limit is a whole number (-1 clears it)")
    return format_tres(tres)


def _norm_tres(tres: dict) -> dict:
    return {k: str(v) for k, v in tres.items()}


def limit_settings(current: Limits | None, desired: Limits) -> list:
    """`Key=value` settings that turn `current` (None: a new association) into `desired`."""
    out = []
    for attr, key in _TRES_FIELDS:
        want, have = getattr(desired, attr), getattr(current, attr) if current else {}
        change = {k: v for k, v in want.items() if str(v) != str(have.get(k))}
        change.update({k: -1 for k in have if k not in want})  # a TRES limit no longer wanted
        if change:
            out.append(f"{key}={_tres_text(change)}")
    for attr, key in _INT_FIELDS:
        want, have = getattr(desired, attr), getattr(current, attr) if current else None
        if want is not None:
            validate.positive(want, attr, allow_zero=True)
        if want != have and not (current is None and want is None):
            out.append(f"{key}={-1 if want is None else want}")
    want, have = desired.max_wall_minutes, current.max_wall_minutes if current else None
    if want != have and not (current is None and want is None):
        out.append(f"MaxWall={-1 if want is None else format_minutes(want)}")
    if desired.qos and tuple(sorted(desired.qos)) != tuple(sorted(current.qos if current else ())):
        out.append("QOS=" + ",".join(validate.qos_name(q) for q in desired.qos))
    if desired.default_qos and desired.default_qos != (current.default_qos if current else ""):
        out.append("DefaultQOS=" + validate.qos_name(desired.default_qos))
    return out


def _from_assoc(a: Association) -> Limits:
    return Limits(grp_tres=_norm_tres(a.grp_tres), grp_tres_mins=_norm_tres(a.grp_tres_mins),
                  max_tres_per_job=_norm_tres(a.max_tres_per_job), max_jobs=a.max_jobs,
                  max_submit_jobs=a.max_submit_jobs, max_wall_minutes=a.max_wall_minutes, qos=tuple(a.qos),
                  default_qos=a.default_qos)


def _inherit(user: Limits, account: Limits) -> Limits:
    """What `sacctmgr show assoc` prints for a user association with these own limits: Max* limits
    and QOS are inherited from the account (and printed), Grp* limits are the account's as a group
    and are not printed on the user row."""
    return Limits(grp_tres=user.grp_tres, grp_tres_mins=user.grp_tres_mins,
                  max_tres_per_job=user.max_tres_per_job or account.max_tres_per_job,
                  max_jobs=account.max_jobs if user.max_jobs is None else user.max_jobs,
                  max_submit_jobs=account.max_submit_jobs if user.max_submit_jobs is None else user.max_submit_jobs,
                  max_wall_minutes=account.max_wall_minutes if user.max_wall_minutes is None else user.max_wall_minutes,
                  qos=user.qos or account.qos, default_qos=user.default_qos or account.default_qos)


def _user_settings(have: Limits, own: Limits, account: Limits) -> list:
    """Settings for a user: a limit the user should not have of its own goes back to -1 (inherit)."""
    effective = _inherit(own, account)
    out = []
    for attr, key in _TRES_FIELDS:
        want, got = _norm_tres(getattr(effective, attr)), getattr(have, attr)
        change = {k: (v if k in getattr(own, attr) else -1) for k, v in want.items() if got.get(k) != v}
        change.update({k: -1 for k in got if k not in want})
        if change:
            out.append(f"{key}={_tres_text({k: int(v) for k, v in change.items()})}")
    for attr, key in (*_INT_FIELDS, ("max_wall_minutes", "MaxWall")):
        want, got = getattr(effective, attr), getattr(have, attr)
        if want != got:
            mine = getattr(own, attr)
            value = -1 if mine is None else (format_minutes(mine) if key == "MaxWall" else mine)
            out.append(f"{key}={value}")
    if own.qos and tuple(sorted(own.qos)) != tuple(sorted(have.qos)):
        out.append("QOS=" + ",".join(validate.qos_name(q) for q in own.qos))
    if own.default_qos and own.default_qos != have.default_qos:
        out.append("DefaultQOS=" + validate.qos_name(own.default_qos))
    return out


def _cmd(op: Op, entity: Entity, name: str, argv: list, summary: str) -> SacctmgrCommand:
    return SacctmgrCommand(op, entity, name, tuple(["sacctmgr", "-i", *argv]), summary)


def diff(current: CurrentState, desired: DesiredState, *, prune_users: bool = False) -> list:
    """The sacctmgr commands (in a safe order: QOS, accounts, users, removals) that make Slurm
    match `desired` for the accounts it names. Empty: in sync (no drift)."""
    cluster = validate.account_name(desired.cluster, "cluster")
    where_cluster = f"cluster={cluster}"
    cmds: list = []
    have_qos = {q.name: q for q in current.qos}
    for spec in desired.qos:
        name = validate.qos_name(spec.name)
        sets = _qos_settings(have_qos.get(name), spec)
        if name not in have_qos:
            cmds.append(_cmd(Op.ADD, Entity.QOS, name, ["add", "qos", name, *sets], f"add QOS {name}"))
        elif sets:
            cmds.append(_cmd(Op.MODIFY, Entity.QOS, name, ["modify", "qos", "where", f"name={name}", "set", *sets],
                             f"QOS {name}: " + ", ".join(sets)))
    known_accounts = {a.name for a in current.accounts}
    assocs = {(a.account, a.user, a.partition): a for a in current.associations if a.cluster == cluster}
    account_limits = {}
    for spec in desired.accounts:
        name = validate.account_name(spec.name)
        validate.comment(spec.description, "description")  # checked even when unchanged: a form shows it
        validate.comment(spec.organization, "organization")
        if spec.parent:
            validate.account_name(spec.parent, "parent")
        account_limits[name] = spec.limits
        have = assocs.get((name, "", ""))
        if name not in known_accounts or have is None:
            argv = ["add", "account", name, where_cluster]
            if spec.description:
                argv.append("Description=" + validate.comment(spec.description, "description"))
            if spec.organization:
                argv.append("Organization=" + validate.comment(spec.organization, "organization"))
            if spec.parent and spec.parent != "root":
                argv.append("Parent=" + validate.account_name(spec.parent, "parent"))
            sets = limit_settings(None, spec.limits)
            cmds.append(_cmd(Op.ADD, Entity.ACCOUNT, name, argv + sets, f"add account {name}"))
            continue
        sets = limit_settings(_from_assoc(have), spec.limits)
        if sets:
            cmds.append(_cmd(Op.MODIFY, Entity.ACCOUNT, name,
                             ["modify", "account", "where", f"name={name}", where_cluster, "set", *sets],
                             f"account {name}: " + ", ".join(sets)))
    wanted_users = set()
    for spec in desired.users:
        user, account = validate.user_name(spec.name), validate.account_name(spec.account)
        if account not in account_limits:
            raise InvalidName("account", f"user {user} is placed in {account!r}, which the desired state does not name")
        wanted_users.add((account, user))
        have = assocs.get((account, user, ""))
        if have is None:
            argv = ["add", "user", user, f"account={account}", where_cluster, *limit_settings(None, spec.limits)]
            cmds.append(_cmd(Op.ADD, Entity.USER, f"{account}/{user}", argv, f"add user {user} to {account}"))
            continue
        sets = _user_settings(_from_assoc(have), spec.limits, account_limits[account])
        if sets:
            cmds.append(_cmd(Op.MODIFY, Entity.USER, f"{account}/{user}",
                             ["modify", "user", "where", f"name={user}", f"account={account}", where_cluster, "set",
                              *sets], f"user {user} in {account}: " + ", ".join(sets)))
    if prune_users:
        for (account, user, partition), _ in sorted(assocs.items()):
            if user and account in account_limits and (account, user) not in wanted_users:
                argv = ["delete", "user", "where", f"name={user}", f"account={account}", where_cluster]
                if partition:
                    argv.append(f"partition={partition}")
                cmds.append(_cmd(Op.DELETE, Entity.USER, f"{account}/{user}", argv,
                                 f"remove user {user} from {account}"))
    return cmds


def _qos_settings(have: Qos | None, spec: QosSpec) -> list:
    out = []
    if have is None or have.priority != spec.priority:
        if spec.priority or have is not None:
            out.append(f"Priority={validate.positive(spec.priority, 'priority', allow_zero=True)}")
    for attr, key in (("max_tres_per_job", "MaxTRESPerJob"), ("max_tres_per_user", "MaxTRESPerUser"),
                      ("grp_tres", "GrpTRES")):
        want, got = _norm_tres(getattr(spec, attr)), getattr(have, attr) if have else {}
        change = {k: int(v) for k, v in want.items() if got.get(k) != v}
        change.update({k: -1 for k in got if k not in want})
        if change:
            out.append(f"{key}={_tres_text(change)}")
    want, got = spec.max_jobs_per_user, have.max_jobs_per_user if have else None
    if want != got:
        out.append(f"MaxJobsPerUser={-1 if want is None else validate.positive(want, 'max_jobs_per_user')}")
    want, got = spec.max_wall_minutes, have.max_wall_minutes if have else None
    if want != got:
        out.append(f"MaxWall={-1 if want is None else format_minutes(want)}")
    return out


def current_state(backend, cluster: str) -> CurrentState:
    """Read what `diff` compares against, in three sacctmgr calls."""
    return CurrentState(cluster=cluster, accounts=backend.accounts(), associations=backend.associations(),
                        qos=backend.qos())


__all__ = ["Op", "Entity", "Limits", "AccountSpec", "UserSpec", "QosSpec", "DesiredState", "CurrentState",
           "SacctmgrCommand", "diff", "limit_settings", "current_state", "Account"]
