"""Accounting and quotas Slurm itself enforces: each project's Slurm account on a cluster, its
members as users in it (through their Slurm user mapping) and its limits as association limits,
written with `sacctmgr` (ColdFront / Waldur style: desired state -> diff -> commands).

    gpus_per_job               -> MaxTRES=gres/gpu=N       (per job; sacctmgr's MaxTRESPerJob)
    gpu_minutes                -> GrpTRESMins=gres/gpu=N   (the account's GPU-minutes budget)
    max_running_jobs_per_user  -> MaxJobs=N                (inherited by each user association)
    max_wall_min               -> MaxWall=N
    allowed_qos                -> QOS=a,b  DefaultQOS=a

A dry run (`plan`) lists the commands without running them; `apply` runs them (a job, audited
once by the service that starts it); the drift check stores, per project account, the commands
that would still be needed (empty: Slurm matches the portal). Clusters that keep their own
accounting (reuse_database) are refused: the portal never runs sacctmgr there.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.core.audit import record_audit
from apps.core.errors import Conflict, Forbidden, InvalidInput
from apps.jobs.services import start_job
from apps.rbac.models import Membership
from apps.rbac.permissions import can

from . import connection
from .models import Cluster, ProjectAccount, SlurmUser
from .node_states import check_may_manage
from .slurm import accounting
from .slurm.errors import SlurmError

LIMIT_FIELDS = ["gpus_per_job", "gpu_minutes", "max_running_jobs_per_user", "max_wall_min", "allowed_partitions",
                "allowed_qos"]
AUDITED = ["project_id", "account", *LIMIT_FIELDS]
GPU = "gres/gpu"


def refuse_reused_database(cluster: Cluster) -> None:
    if cluster.reuse_database:
        raise Conflict(f"{cluster.name} keeps its own accounting (reuse_database): the portal never runs sacctmgr "
                       "there.", field="reuse_database")


def slurm_cluster_name(cluster: Cluster) -> str:
    return cluster.slurm_cluster_name or cluster.name


# --- desired state ----------------------------------------------------------------------------
def limits_of(pa: ProjectAccount) -> accounting.Limits:
    qos = tuple(pa.allowed_qos or ())
    return accounting.Limits(
        max_tres_per_job={GPU: pa.gpus_per_job} if pa.gpus_per_job is not None else {},
        grp_tres_mins={GPU: pa.gpu_minutes} if pa.gpu_minutes is not None else {},
        max_jobs=pa.max_running_jobs_per_user, max_wall_minutes=pa.max_wall_min,
        qos=qos, default_qos=qos[0] if qos else "")


def slurm_users(cluster: Cluster, user_ids) -> dict[int, str]:
    """Portal user id -> Slurm user name on this cluster (its own mapping wins over the default)."""
    out = {}
    for row in SlurmUser.objects.filter(user_id__in=list(user_ids), cluster=cluster).values("user_id", "username"):
        out[row["user_id"]] = row["username"]
    for row in SlurmUser.objects.filter(user_id__in=list(user_ids), cluster=None).values("user_id", "username"):
        out.setdefault(row["user_id"], row["username"])
    return out


@dataclass
class Desired:
    state: accounting.DesiredState
    notes: list = field(default_factory=list)
    accounts: list = field(default_factory=list)  # [ProjectAccount]


def desired_state(cluster: Cluster) -> Desired:
    accounts = list(ProjectAccount.objects.filter(cluster=cluster).select_related("project").order_by("account"))
    members = list(Membership.objects.filter(project_id__in=[a.project_id for a in accounts])
                   .select_related("user").order_by("user__username"))
    names = slurm_users(cluster, {m.user_id for m in members})
    state = accounting.DesiredState(cluster=slurm_cluster_name(cluster))
    notes = []
    for pa in accounts:
        state.accounts.append(accounting.AccountSpec(pa.account, description=pa.project.name[:100],
                                                     organization="aimatrix", limits=limits_of(pa)))
        seen = set()
        for m in (m for m in members if m.project_id == pa.project_id):
            username = names.get(m.user_id)
            if not username:
                notes.append(f"{m.user.get_username()} (member of {pa.project.name}) has no Slurm user mapping: "
                             f"not added to {pa.account}")
            elif username not in seen:
                seen.add(username)
                state.users.append(accounting.UserSpec(username, pa.account))
        if pa.allowed_partitions:
            notes.append(f"{pa.account}: allowed partitions {', '.join(pa.allowed_partitions)} are enforced by the "
                         "partitions' AllowAccounts and the portal's submit check, not by an association")
    return Desired(state, notes, accounts)


# --- plan (dry run), apply, drift ---------------------------------------------------------------
def command_data(cmd: accounting.SacctmgrCommand) -> dict:
    return {"op": cmd.op.value, "entity": cmd.entity.value, "name": cmd.name, "summary": cmd.summary,
            "argv": list(cmd.argv), "command": str(cmd)}


@dataclass
class Plan:
    commands: list  # [SacctmgrCommand]
    notes: list
    accounts: list  # [ProjectAccount]

    def for_account(self, account: str) -> list:
        return [c for c in self.commands if c.name == account or c.name.startswith(account + "/")]

    def as_data(self) -> dict:
        return {"in_sync": not self.commands, "commands": [command_data(c) for c in self.commands],
                "notes": self.notes}


def plan(cluster: Cluster, client) -> Plan:
    desired = desired_state(cluster)
    current = accounting.current_state(client, desired.state.cluster)
    known_qos = {q.name for q in current.qos}
    notes = list(desired.notes)
    for pa in desired.accounts:
        missing = [q for q in pa.allowed_qos if q not in known_qos]
        if missing:
            notes.append(f"{pa.account}: QOS {', '.join(missing)} not defined in Slurm: sacctmgr will refuse")
    commands = accounting.diff(current, desired.state, prune_users=True)
    return Plan(commands, notes, desired.accounts)


def store_drift(found: Plan) -> None:
    now = timezone.now()
    for pa in found.accounts:
        ProjectAccount.objects.filter(pk=pa.pk).update(drift=[c.summary for c in found.for_account(pa.account)],
                                                       checked_at=now)


def check(cluster: Cluster, *, actor=None, purpose: str = "accounting drift check") -> Plan:
    refuse_reused_database(cluster)
    found = plan(cluster, connection.controller_client(cluster, purpose=purpose, actor=actor))
    store_drift(found)
    return found


def check_all() -> dict:
    out = {}
    for cluster in Cluster.objects.select_related("controller").filter(reuse_database=False, accounts__isnull=False
                                                                       ).distinct():
        try:
            found = check(cluster, purpose="beat clusters.accounting_drift")
            out[cluster.name] = len(found.commands)
        except SlurmError as exc:
            out[cluster.name] = f"failed: {exc}"
    return out


def apply(cluster: Cluster, *, actor=None, purpose: str = "accounting apply", log=None) -> Plan:
    """Compute the diff afresh and run it; then store the (now expected empty) drift."""
    refuse_reused_database(cluster)
    client = connection.controller_client(cluster, purpose=purpose, actor=actor)
    found = plan(cluster, client)
    for cmd in found.commands:
        if log:
            log(f"$ {cmd}")
        client.apply_accounting([cmd])
    ProjectAccount.objects.filter(pk__in=[pa.pk for pa in found.accounts]).update(applied_at=timezone.now())
    store_drift(plan(cluster, client))
    return found


# --- services the API and pages call --------------------------------------------------------------
def preview(actor, cluster: Cluster) -> dict:
    """The dry run: the sacctmgr commands apply would run, without running them."""
    check_may_manage(actor, cluster)
    refuse_reused_database(cluster)
    client = connection.controller_client(cluster, purpose="accounting dry run", actor=actor)
    try:
        return {"ok": True, **plan(cluster, client).as_data()}
    except SlurmError as exc:
        return {"ok": False, "error": str(exc), "in_sync": None, "commands": [], "notes": []}


def start_apply(actor, cluster: Cluster):
    check_may_manage(actor, cluster)
    refuse_reused_database(cluster)
    with transaction.atomic():
        job = start_job(actor, "clusters.accounting_apply", {"cluster": cluster.pk}, target=cluster, audit=False)
        record_audit("cluster.accounting_apply", actor=actor, obj=cluster,
                     after={"job": job.pk, "accounts": list(cluster.accounts.values_list("account", flat=True))})
    return job


def start_check(actor, cluster: Cluster):
    check_may_manage(actor, cluster)
    refuse_reused_database(cluster)
    return start_job(actor, "clusters.accounting_check", {"cluster": cluster.pk}, target=cluster)


LIVE_TIMEOUT = 10.0  # a page or API read waits no longer for sacctmgr


def live(actor, cluster: Cluster, what: str, *, client=None) -> dict:
    """Associations or QOS as Slurm shows them now (read-only; also on reuse_database clusters)."""
    if not can(actor, cluster, "view"):
        raise Forbidden("You may not see this cluster.")
    client = client or _live_client(actor, cluster)
    try:
        rows = client.associations() if what == "associations" else client.qos()
    except SlurmError as exc:
        return {"live": False, "error": str(exc), "results": []}
    if what == "associations":
        mine = slurm_cluster_name(cluster)
        rows = [r for r in rows if not r.cluster or r.cluster == mine]
    return {"live": True, "results": [_plain(r) for r in rows]}


def _live_client(actor, cluster: Cluster):
    client = connection.controller_client(cluster, purpose="accounting read", actor=actor)
    if hasattr(client, "timeout"):
        client.timeout = min(client.timeout, LIVE_TIMEOUT)
    return client


def live_both(actor, cluster: Cluster) -> tuple[dict, dict]:
    """Associations and QOS for the accounting page: one client; when Slurm cannot be read, tried once."""
    client = _live_client(actor, cluster) if can(actor, cluster, "view") else None
    associations = live(actor, cluster, "associations", client=client)
    if not associations["live"]:
        return associations, associations
    return associations, live(actor, cluster, "qos", client=client)


def _plain(record) -> dict:
    from dataclasses import asdict

    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(record).items()}


# --- project accounts: create / update / delete ----------------------------------------------------
def _fields(pa: ProjectAccount) -> dict:
    return {name: getattr(pa, name) for name in AUDITED}


def _check_limits(cluster: Cluster, pa: ProjectAccount) -> None:
    errors = {}
    known = set(cluster.partitions.values_list("name", flat=True))
    unknown = [p for p in pa.allowed_partitions or [] if p not in known]
    if unknown:
        errors["allowed_partitions"] = [f"Not a partition of {cluster.name}: {', '.join(map(str, unknown[:5]))}."]
    if errors:
        raise InvalidInput(errors)


def _save(pa: ProjectAccount) -> None:
    pa.account = (pa.account or "").lower() if isinstance(pa.account, str) else pa.account  # sacctmgr lowercases
    try:
        pa.full_clean(validate_constraints=False)
    except ValidationError as exc:
        raise InvalidInput(exc.message_dict) from None
    others = ProjectAccount.objects.filter(cluster=pa.cluster).exclude(pk=pa.pk)
    if others.filter(project=pa.project).exists():
        raise InvalidInput({"project": [f"{pa.project} already has an account on {pa.cluster}."]})
    if others.filter(account=pa.account).exists():
        raise InvalidInput({"account": [f"Account {pa.account} is another project's on {pa.cluster}."]})
    _check_limits(pa.cluster, pa)
    pa.save()


def create_account(actor, cluster: Cluster, *, project, account: str, **limits) -> ProjectAccount:
    check_may_manage(actor, cluster)
    if not actor.has_perm("clusters.add_projectaccount"):
        raise Forbidden("You may not add project accounts.")
    if not can(actor, project, "view"):
        raise InvalidInput({"project": ["Unknown project."]})
    unknown = set(limits) - set(LIMIT_FIELDS)
    if unknown:
        raise InvalidInput({name: ["Not a limit."] for name in sorted(unknown)})
    pa = ProjectAccount(cluster=cluster, project=project, account=account, **limits)
    with transaction.atomic():
        _save(pa)
        record_audit("cluster.account_create", actor=actor, obj=pa, after=_fields(pa))
    return pa


def update_account(actor, pa: ProjectAccount, **changes) -> ProjectAccount:
    check_may_manage(actor, pa.cluster)
    if not actor.has_perm("clusters.change_projectaccount"):
        raise Forbidden("You may not change project accounts.")
    unknown = set(changes) - {"account", *LIMIT_FIELDS}
    if unknown:
        raise InvalidInput({name: ["Not editable."] for name in sorted(unknown)})
    before = _fields(pa)
    for key, value in changes.items():
        setattr(pa, key, value)
    with transaction.atomic():
        _save(pa)
        record_audit("cluster.account_update", actor=actor, obj=pa, before=before, after=_fields(pa))
    return pa


def delete_account(actor, pa: ProjectAccount) -> None:
    """Forget the mapping in the portal; Slurm's account stays (remove it there on purpose)."""
    check_may_manage(actor, pa.cluster)
    if not actor.has_perm("clusters.delete_projectaccount"):
        raise Forbidden("You may not delete project accounts.")
    with transaction.atomic():
        record_audit("cluster.account_delete", actor=actor, obj=pa, before=_fields(pa))
        pa.delete()
