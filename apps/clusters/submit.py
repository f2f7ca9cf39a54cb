"""Submitting a Slurm job through the portal.

The script goes to `sbatch --parsable` on stdin, run as the submitting user's mapped Slurm user
(SlurmUser: per cluster, else the user's default; never root), never inside a shell string.
Before anything reaches Slurm the portal checks the project's limits (ProjectAccount): GPUs per
job, walltime, allowed partitions and QOS, jobs in the queue per user; a refusal names the limit
next to the field. Slurm enforces the same limits itself (associations and QOS); this check only
answers earlier and more clearly.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.audit import record_audit
from apps.core.errors import Forbidden, InvalidInput, ServiceError
from apps.rbac.models import Membership
from apps.rbac.permissions import project_roles_for, restrict

from . import connection
from .models import ACTIVE_JOB_STATES, Cluster, JobTemplate, ProjectAccount, SlurmJob, SlurmJobState, SlurmUser
from .slurm import JobSubmission
from .slurm.errors import CommandFailed, InvalidName, SlurmError


class SlurmUnavailable(ServiceError):
    """The cluster could not be reached or Slurm failed for a reason that is not the request's."""

    status = 502


@dataclass
class JobRequest:
    """What a submit form or API call asks for (None / '' = Slurm's default)."""

    script: str
    name: str = ""
    partition: str = ""
    account: str = ""
    qos: str = ""
    nodes: int = 1
    cpus: int = 1
    memory_mb: int | None = None
    time_limit_min: int | None = None
    gpus: int = 0  # per node
    work_dir: str = ""


def from_template(template: JobTemplate, **overrides) -> JobRequest:
    """A template's values, overridden by what the caller gave (non-empty values only)."""
    base = JobRequest(script=template.script, name=template.name if _name_ok(template.name) else "",
                      partition=template.partition, account=template.account, nodes=template.nodes,
                      cpus=template.cpus, memory_mb=template.memory_mb or None,
                      time_limit_min=template.time_limit_min, gpus=template.gpus)
    for key, value in overrides.items():
        if value not in (None, "") and hasattr(base, key):
            setattr(base, key, value)
    return base


def _name_ok(name: str) -> bool:
    from .slurm import validate

    try:
        validate.job_name(name)
        return True
    except InvalidName:
        return False


def slurm_user_for(user, cluster: Cluster) -> str:
    """The Slurm user `user` submits as on `cluster` (a mapping for that cluster wins over the
    default one); 400 naming `slurm_user` when there is none."""
    maps = {m.cluster_id: m.username for m in SlurmUser.objects.filter(user=user).filter(
        Q(cluster=cluster) | Q(cluster__isnull=True))}
    name = maps.get(cluster.pk) or maps.get(None)
    if not name or name == "root":
        raise InvalidInput({"slurm_user": [
            f"You have no Slurm user on {cluster.name}: ask an administrator to map your account to a Slurm "
            f"(Unix) user first. Jobs never run as root."]})
    return name


def submittable_clusters(user):
    """Clusters `user` may submit to: those they see, and those where one of their projects has
    a Slurm account."""
    projects = Membership.objects.filter(user=user, role__in=project_roles_for("add")).values("project_id")
    by_account = ProjectAccount.objects.filter(project__in=projects).values("cluster_id")
    seen = restrict(Cluster.objects.all(), user, "view").values("pk")
    return Cluster.objects.filter(Q(pk__in=seen) | Q(pk__in=by_account)).select_related("controller", "login_node")


def account_for(actor, cluster: Cluster, account: str) -> ProjectAccount | None:
    """The project account to charge: the named one, else the actor's only one on the cluster.
    Members need a project role that may add jobs; operators may use any account (even one the
    portal does not know: Slurm decides)."""
    operator = actor.is_superuser or actor.has_perm("rbac.unrestricted")
    mine = ProjectAccount.objects.filter(cluster=cluster).select_related("project")
    if not operator:
        mine = mine.filter(project__memberships__user=actor, project__memberships__role__in=project_roles_for("add"))
    if account:
        found = mine.filter(account=account).first()
        if found is None and not operator:
            raise InvalidInput({"account": [f"{account!s:.64} is not the Slurm account of a project you may submit "
                                            f"jobs in on {cluster.name}."]})
        return found
    choices = list(mine[:2])
    if len(choices) == 1 and not operator:
        return choices[0]
    if not operator:
        raise InvalidInput({"account": ["Choose the Slurm account (project) to charge." if choices else
                                        f"None of your projects has a Slurm account on {cluster.name}."]})
    return None


def check_limits(cluster: Cluster, pa: ProjectAccount | None, req: JobRequest, slurm_user: str) -> None:
    """The project's limits, each refusal naming the limit (field -> message)."""
    if pa is None:
        return
    errors = {}
    total_gpus = (req.gpus or 0) * max(req.nodes or 1, 1)
    if pa.gpus_per_job is not None and total_gpus > pa.gpus_per_job:
        errors["gpus"] = [f"{total_gpus} GPU(s) exceed the limit of project {pa.project.name} on {cluster.name}: "
                          f"gpus_per_job = {pa.gpus_per_job}."]
    if pa.max_wall_min is not None:
        if not req.time_limit_min:
            errors["time_limit_min"] = [f"Give a time limit: project {pa.project.name} allows at most "
                                        f"{pa.max_wall_min} min (max_wall_min)."]
        elif req.time_limit_min > pa.max_wall_min:
            errors["time_limit_min"] = [f"{req.time_limit_min} min exceeds the limit of project {pa.project.name}: "
                                        f"max_wall_min = {pa.max_wall_min}."]
    if pa.allowed_partitions:
        partition = req.partition or _default_partition(cluster)
        if partition not in pa.allowed_partitions:
            errors["partition"] = [f"Partition {partition or '(default)'} is not allowed for project "
                                   f"{pa.project.name}: allowed_partitions = {', '.join(pa.allowed_partitions)}."]
    if pa.allowed_qos and req.qos and req.qos not in pa.allowed_qos:
        errors["qos"] = [f"QOS {req.qos} is not allowed for project {pa.project.name}: allowed_qos = "
                         f"{', '.join(pa.allowed_qos)}."]
    if pa.max_running_jobs_per_user is not None:
        queued = SlurmJob.objects.filter(cluster=cluster, account=pa.account, user=slurm_user,
                                         state__in=ACTIVE_JOB_STATES).count()
        if queued >= pa.max_running_jobs_per_user:
            errors["account"] = [f"{slurm_user} has {queued} job(s) queued or running in {pa.account}: "
                                 f"max_running_jobs_per_user = {pa.max_running_jobs_per_user}."]
    if errors:
        raise InvalidInput(errors)


def _default_partition(cluster: Cluster) -> str:
    return cluster.partitions.filter(is_default=True).values_list("name", flat=True).first() or ""


def _submission(req: JobRequest, account: str, slurm_user: str) -> JobSubmission:
    work_dir = req.work_dir or settings.SLURM_JOB_WORK_DIR.format(user=slurm_user)
    return JobSubmission(script=req.script, name=req.name, partition=req.partition, account=account, qos=req.qos,
                         nodes=req.nodes or None, ntasks=None, cpus_per_task=req.cpus or None,
                         memory_mb=req.memory_mb or None, time_limit_minutes=req.time_limit_min or None,
                         gpus=req.gpus or None, work_dir=work_dir, output=f"{work_dir}/slurm-%j.out")


def submit_job(actor, cluster: Cluster, req: JobRequest) -> SlurmJob:
    """Check permission, mapping and limits; sbatch as the mapped user; store and audit the job."""
    if not actor.has_perm("clusters.add_slurmjob"):
        raise Forbidden("You may not submit Slurm jobs.")
    if not submittable_clusters(actor).filter(pk=cluster.pk).exists():
        raise Forbidden(f"You may not submit jobs to {cluster.name}.")
    slurm_user = slurm_user_for(actor, cluster)
    pa = account_for(actor, cluster, req.account)
    account = req.account or (pa.account if pa else "")
    submission = _submission(req, account, slurm_user)
    try:  # every value is checked before anything is sent; a refusal names its field
        from .slurm.backend import _script, sbatch_options

        sbatch_options(submission, as_user=slurm_user)
        _script(submission.script)
    except InvalidName as exc:
        raise InvalidInput({_field(exc.field): [exc.reason]}) from None
    check_limits(cluster, pa, req, slurm_user)
    client = connection.submit_client(cluster, purpose="slurm job submit", actor=actor)
    try:
        result = client.submit(submission, as_user=slurm_user)
    except InvalidName as exc:
        raise InvalidInput({_field(exc.field): [exc.reason]}) from None
    except CommandFailed as exc:  # sbatch refused the job: its own words, as the request's fault
        raise InvalidInput({"detail": [f"Slurm refused the job: {exc}"]}) from None
    except SlurmError as exc:
        raise SlurmUnavailable(f"{cluster.name}: {exc}") from None
    job_id = result.job_id.split(";")[0][:32]
    values = {"name": req.name[:200], "user": slurm_user, "account": account[:64], "partition": req.partition,
              "qos": req.qos, "state": SlurmJobState.PENDING, "num_nodes": req.nodes or 1, "cpus": req.cpus or 1,
              "memory_mb": req.memory_mb or 0, "gpus": (req.gpus or 0) * (req.nodes or 1),
              "time_limit_min": req.time_limit_min, "submitted_at": timezone.now(),
              "stdout_path": submission.output.replace("%j", job_id), "work_dir": submission.work_dir,
              "submitted_by": actor, "project": pa.project if pa else None, "script": req.script}
    with transaction.atomic():
        try:
            job, _ = SlurmJob.objects.update_or_create(cluster=cluster, job_id=job_id, defaults=values)
        except IntegrityError:  # a sync stored it first: the portal's columns go onto that row
            job = SlurmJob.objects.get(cluster=cluster, job_id=job_id)
            for key in ("submitted_by", "project", "script", "stdout_path"):
                setattr(job, key, values[key])
            job.save(update_fields=["submitted_by", "project", "script", "stdout_path"])
        record_audit("slurmjob.submit", actor=actor, obj=job, after={
            "cluster": cluster.name, "job_id": job_id, "slurm_user": slurm_user, "account": account,
            "partition": req.partition, "qos": req.qos, "nodes": req.nodes, "cpus": req.cpus, "gpus": req.gpus,
            "memory_mb": req.memory_mb, "time_limit_min": req.time_limit_min, "name": req.name,
            "script_sha256": hashlib.sha256(req.script.encode()).hexdigest(), "script_bytes": len(req.script.encode())})
    return job


_FIELDS = {"time_limit_minutes": "time_limit_min", "cpus_per_task": "cpus", "output": "work_dir",
           "as_user": "slurm_user"}


def _field(name: str) -> str:
    """The client's field names -> the submit form's."""
    return _FIELDS.get(name, name)


def may_submit(user, cluster: Cluster) -> bool:
    return user.has_perm("clusters.add_slurmjob") and submittable_clusters(user).filter(pk=cluster.pk).exists()


def visible_templates(user, action: str = "view"):
    return restrict(JobTemplate.objects.select_related("project", "owner", "cluster"), user, action)


def usable_template(user, pk) -> JobTemplate:
    template = visible_templates(user).filter(pk=pk).first()
    if template is None:
        raise InvalidInput({"template": ["Unknown template, or one you may not see."]})
    return template

