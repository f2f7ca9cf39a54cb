"""Job templates: saved submit forms a team runs again and again. Create, change, delete with a
permission check and one audit entry each (the API, pages and admin call these)."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.core.audit import record_audit
from apps.core.errors import Forbidden, InvalidInput
from apps.rbac.permissions import can, may_act_in_project

from .models import JobTemplate

FIELDS = ["name", "description", "project_id", "cluster_id", "partition", "account", "nodes", "cpus", "memory_mb",
          "gpus", "time_limit_min"]


def _snapshot(template: JobTemplate) -> dict:
    return {**{name: getattr(template, name) for name in FIELDS}, "script_bytes": len(template.script.encode())}


def _check_refs(actor, template: JobTemplate) -> None:
    if not may_act_in_project(actor, JobTemplate, template.project, "add"):
        raise InvalidInput({"project": ["Choose a project you may add templates to."]})
    if template.cluster is not None and not can(actor, template.cluster, "view"):
        raise InvalidInput({"cluster": ["Unknown cluster."]})
    if template.script and not template.script.startswith("#!"):
        raise InvalidInput({"script": ["The batch script must start with '#!' and an interpreter, e.g. #!/bin/bash."]})


def _save(template: JobTemplate) -> None:
    try:
        template.full_clean(exclude=["project", "cluster", "owner"])  # optional: checked in _check_refs
    except ValidationError as exc:
        raise InvalidInput(exc.message_dict) from None
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise InvalidInput({"name": ["The project has a template of this name already."]}) from None


def create_template(actor, **values) -> JobTemplate:
    if not actor.has_perm("clusters.add_jobtemplate"):
        raise Forbidden("You may not add job templates.")
    template = JobTemplate(owner=actor, **values)
    _check_refs(actor, template)
    with transaction.atomic():
        _save(template)
        record_audit("jobtemplate.create", actor=actor, obj=template, after=_snapshot(template))
    return template


def update_template(actor, template: JobTemplate, **changes) -> JobTemplate:
    if not can(actor, template, "change"):
        raise Forbidden("You may not change this template.")
    before = _snapshot(template)
    for key, value in changes.items():
        setattr(template, key, value)
    if "project" in changes or "cluster" in changes:
        _check_refs(actor, template)
    with transaction.atomic():
        _save(template)
        record_audit("jobtemplate.update", actor=actor, obj=template, before=before, after=_snapshot(template))
    return template


def delete_template(actor, template: JobTemplate) -> None:
    if not can(actor, template, "delete"):
        raise Forbidden("You may not delete this template.")
    with transaction.atomic():
        record_audit("jobtemplate.delete", actor=actor, obj=template, before=_snapshot(template))
        template.delete()
