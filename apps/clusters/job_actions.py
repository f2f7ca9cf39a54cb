"""Slurm jobs seen and operated through the portal: who sees which, cancel / hold / release /
requeue / signal, the output file (bounded, by offset so a page can follow a running job), and
the history from `sacct`.

Actions need clusters.cancel_slurmjob on the job (its owner, i.e. who submitted it through the
portal, always has it). A user acting on a job they submitted acts as that job's Slurm user; an
operator (rbac.unrestricted) as the portal's SSH user on the cluster; anyone else as their own
mapped Slurm user, so Slurm itself decides (e.g. an account coordinator).
"""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.audit import record_audit
from apps.core.errors import Conflict, Forbidden, InvalidInput
from apps.rbac.models import Membership
from apps.rbac.permissions import can, project_roles_for, restrict

from . import connection, efficiency, jobs_sync
from .models import ACTIVE_JOB_STATES, Cluster, ProjectAccount, SlurmJob, SlurmJobState
from .slurm import JobAction, validate
from .slurm.errors import CommandFailed, InvalidName, NotFound, SlurmError
from .submit import SlurmUnavailable, slurm_user_for

MAX_HISTORY_DAYS = 90
MAX_HISTORY_ROWS = 5_000


def visible_jobs(user, action: str = "view"):
    return restrict(SlurmJob.objects.select_related("cluster", "project", "submitted_by"), user, action)


def visible_clusters_for_jobs(user):
    """Clusters whose jobs `user` may list: those they see, and those where one of their
    projects has a Slurm account."""
    projects = Membership.objects.filter(user=user, role__in=project_roles_for("view")).values("project_id")
    by_account = ProjectAccount.objects.filter(project__in=projects).values("cluster_id")
    seen = restrict(Cluster.objects.all(), user, "view").values("pk")
    return Cluster.objects.filter(Q(pk__in=seen) | Q(pk__in=by_account))


def _operator(user) -> bool:
    return user.is_superuser or user.has_perm("rbac.unrestricted")


def acting_user(actor, job: SlurmJob) -> str | None:
    """Whom the Slurm command runs as (None: the SSH user, for operators)."""
    if job.submitted_by_id == actor.pk and job.user and job.user != "root":
        return job.user
    if _operator(actor):
        return None
    return slurm_user_for(actor, job.cluster)


def act(actor, job: SlurmJob, action: str, *, signal: str = "") -> SlurmJob:
    """Cancel, hold, release, requeue or signal the job in Slurm; then read it back (one call)
    so the portal shows the outcome at once. One audit entry."""
    try:
        action = JobAction(action)
    except ValueError:
        raise InvalidInput({"action": [f"Choose one of: {', '.join(a.value for a in JobAction)}."]}) from None
    if not can(actor, job, "cancel"):
        raise Forbidden(f"You may not {action.value} Slurm job {job.job_id}.")
    if not job.active:
        raise Conflict(f"Job {job.job_id} has ended ({job.get_state_display().lower()}): nothing to "
                       f"{action.value}.")
    if action == JobAction.SIGNAL:
        try:
            signal = validate.signal_name(signal or "")
        except InvalidName as exc:
            raise InvalidInput({"signal": [exc.reason]}) from None
    as_user = acting_user(actor, job)
    client = connection.submit_client(job.cluster, purpose=f"slurm job {action.value}", actor=actor)
    before = {"state": job.state, "reason": job.reason}
    try:
        if action == JobAction.SIGNAL:
            client.signal(job.job_id, signal, as_user=as_user)
        else:
            getattr(client, action.value)(job.job_id, as_user=as_user)
    except CommandFailed as exc:
        raise InvalidInput({"detail": [f"Slurm refused to {action.value} job {job.job_id}: {exc}"]}) from None
    except NotFound:
        raise Conflict(f"Slurm no longer knows job {job.job_id}: it has ended.") from None
    except SlurmError as exc:
        raise SlurmUnavailable(f"{job.cluster.name}: {exc}") from None
    with transaction.atomic():
        _read_back(job, client)
        record_audit(f"slurmjob.{action.value}", actor=actor, obj=job, before=before,
                     after={"state": job.state, "reason": job.reason, "as_user": as_user or "(ssh user)",
                            **({"signal": signal} if signal else {})})
    return job


def _read_back(job: SlurmJob, client) -> None:
    try:
        found = client.job_details(job.job_id)
    except SlurmError:
        return  # the action went through; the next sync reads the state
    for record in found:
        if record.job_id == job.job_id:
            values = jobs_sync.fields_of(record)
            if job.gpu_indexes and not values["gpu_indexes"] and values["state"] != SlurmJobState.PENDING:
                values.pop("gpu_indexes")  # an ending job's record may no longer list what it held
            for key, value in values.items():
                setattr(job, key, value)
            job.synced_at = timezone.now()
            job.save(update_fields=[*values, "synced_at"])
            if not job.active:
                efficiency.finalize([job])


def _learn_output_path(job: SlurmJob, actor) -> None:
    """Ask slurmctld once for the job's output file and working directory, and keep them."""
    client = connection.controller_client(job.cluster, purpose="slurm job details", actor=actor)
    try:
        found = [d for d in client.job_details(job.job_id) if d.job_id == job.job_id]
    except SlurmError:
        return  # said as "no output file" below; the next read asks again
    if found and found[0].stdout_path:
        job.stdout_path, job.work_dir = found[0].stdout_path[:500], (found[0].work_dir or job.work_dir)[:500]
        SlurmJob.objects.filter(pk=job.pk).update(stdout_path=job.stdout_path, work_dir=job.work_dir)


def read_output(actor, job: SlurmJob, *, offset: int | None = None, max_bytes: int | None = None) -> dict:
    """The job's output file from the login node: the last `max_bytes` (offset None) or up to
    `max_bytes` from `offset` (follow a running job with next_offset). Read as the job's user."""
    if not can(actor, job, "view"):
        raise Forbidden("You may not read this job's output.")
    client = connection.submit_client(job.cluster, purpose="slurm job output", actor=actor)
    if not job.stdout_path and job.active:
        _learn_output_path(job, actor)  # the queue sync (squeue) does not print it
    if not job.stdout_path:
        return {"text": "", "offset": 0, "next_offset": 0, "eof": True, "running": job.active,
                "note": "Slurm did not report an output file for this job."}
    limit = settings.SLURM_OUTPUT_CHUNK_BYTES
    size = min(max_bytes or limit, limit)
    as_user = job.user if job.user and job.user != "root" else None
    try:
        chunk = client.read_output(job.stdout_path, as_user=as_user, offset=offset, max_bytes=size)
    except InvalidName as exc:
        raise InvalidInput({exc.field if exc.field in ("offset", "max_bytes") else "detail": [exc.reason]}) from None
    except (CommandFailed, NotFound) as exc:
        return {"text": "", "offset": offset or 0, "next_offset": offset or 0, "eof": True, "running": job.active,
                "note": f"The output file could not be read ({job.stdout_path}): {str(exc)[:300]}"}
    except SlurmError as exc:
        raise SlurmUnavailable(f"{job.cluster.name}: {exc}") from None
    read = len(chunk.text.encode("utf-8"))
    return {"text": chunk.text, "offset": chunk.offset, "next_offset": chunk.next_offset,
            "eof": read < size, "running": job.active, "path": job.stdout_path}


def _parse_when(value, field: str, default: dt.datetime) -> dt.datetime:
    if value in (None, ""):
        return default
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value)[:40])
        except ValueError:
            raise InvalidInput({field: ["Use an ISO date or date and time, e.g. 2026-11-30 or 2026-11-30T12:00."]}) \
                from None
    try:
        moment = moment if timezone.is_aware(moment) else timezone.make_aware(moment)
        timezone.localtime(moment)  # the zone sacct is given: must exist there too
    except (ValueError, OverflowError):
        raise InvalidInput({field: ["That moment cannot be expressed in the cluster's time zone."]}) from None
    return moment


def history(actor, cluster: Cluster, *, start=None, end=None, user: str = "", account: str = "") -> list[dict]:
    """Jobs `sacct` knows on the cluster between start and end (default: the last day). Operators
    see every account; others the accounts of their projects only."""
    if not can(actor, cluster, "view") and not ProjectAccount.objects.filter(
            cluster=cluster, project__memberships__user=actor).exists():
        raise Forbidden("You may not see this cluster's jobs.")
    now = timezone.now()
    start_at = _parse_when(start, "start", now - dt.timedelta(days=1))
    end_at = _parse_when(end, "end", now)
    if end_at <= start_at:
        raise InvalidInput({"end": ["The end must come after the start."]})
    if end_at - start_at > dt.timedelta(days=MAX_HISTORY_DAYS):
        raise InvalidInput({"start": [f"Ask for at most {MAX_HISTORY_DAYS} days at once."]})
    if not jobs_sync.has_accounting(cluster):
        raise Conflict(f"{cluster.name} keeps no accounting (AccountingStorageType is none): sacct has no history.")
    accounts = [account] if account else None
    if not _operator(actor):
        mine = set(ProjectAccount.objects.filter(cluster=cluster, project__in=Membership.objects.filter(
            user=actor, role__in=project_roles_for("view")).values("project_id")).values_list("account", flat=True))
        if account and account not in mine:
            raise InvalidInput({"account": ["Not the account of a project you are in."]})
        accounts = accounts or sorted(mine)
        if not accounts:
            return []
    client = connection.controller_client(cluster, purpose="slurm job history", actor=actor)
    try:
        rows = client.history(timezone.localtime(start_at).replace(tzinfo=None),
                              timezone.localtime(end_at).replace(tzinfo=None),
                              users=[user] if user else None, accounts=accounts)
    except InvalidName as exc:
        raise InvalidInput({exc.field if exc.field in ("user", "account") else "detail": [exc.reason]}) from None
    except SlurmError as exc:
        raise SlurmUnavailable(f"{cluster.name}: {exc}") from None
    return [_acct_row(row) for row in rows[:MAX_HISTORY_ROWS]]


def _acct_row(row) -> dict:
    def iso(moment):
        return jobs_sync.aware(moment).isoformat() if moment else None

    return {"job_id": row.job_id, "name": row.name, "user": row.user, "account": row.account,
            "partition": row.partition, "state": row.state.value, "state_text": row.state_text,
            "exit_code": row.exit_code, "submitted_at": iso(row.submit_time), "started_at": iso(row.start_time),
            "ended_at": iso(row.end_time), "elapsed_seconds": row.elapsed_seconds,
            "time_limit_min": row.time_limit_minutes, "cpus": row.cpus, "num_nodes": row.num_nodes,
            "nodes": row.nodes, "gpus": row.gpus, "qos": row.qos}


def queue_filters(queryset, *, user="", account="", state="", partition=""):
    """The queue list's filters (also the pages'): exact names; state may list several."""
    if user:
        queryset = queryset.filter(user=user)
    if account:
        queryset = queryset.filter(account=account)
    if partition:
        queryset = queryset.filter(partition=partition)
    if state:
        states = [s.strip().upper() for s in state.split(",") if s.strip()]
        if "ACTIVE" in states:
            queryset = queryset.filter(Q(state__in=ACTIVE_JOB_STATES) | Q(state__in=states))
        else:
            queryset = queryset.filter(state__in=states)
    return queryset
