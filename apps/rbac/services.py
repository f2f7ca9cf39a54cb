"""Projects, memberships and object grants. Every change is permission-checked and audited."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import ProtectedError
from guardian.shortcuts import assign_perm, remove_perm

from apps.core.audit import record_audit
from apps.core.errors import Conflict, Forbidden, InvalidInput

from .models import Membership, Project, ProjectRole, slug_validator
from .permissions import can

GRANT_ACTIONS = ("view", "use", "manage")


def _require(user, obj, action: str, message: str):
    if not can(user, obj, action):
        raise Forbidden(message)


def _project_fields(project: Project) -> dict:
    return {"name": project.name, "description": project.description,
            "gpu_quota": project.gpu_quota, "gpu_hours_quota": project.gpu_hours_quota}


@transaction.atomic
def create_project(actor, name: str, description: str = "", *, gpu_quota=None, gpu_hours_quota=None,
                   owner=None) -> Project:
    """Create a project and its permission group; `actor=None` is the system (LDAP sync)."""
    if actor is not None and not actor.has_perm("rbac.add_project"):
        raise Forbidden("You do not have permission to create projects.")
    try:
        slug_validator(name)
    except Exception as exc:  # noqa: BLE001 - ValidationError: report it on the field
        raise InvalidInput({"name": list(getattr(exc, "messages", [str(exc)]))}) from None
    if Project.objects.filter(name=name).exists():
        raise InvalidInput({"name": [f"A project named {name!r} already exists."]})
    group, _ = Group.objects.get_or_create(name=f"project:{name}")
    project = Project.objects.create(name=name, description=description, group=group,
                                     gpu_quota=gpu_quota, gpu_hours_quota=gpu_hours_quota)
    record_audit("project.create", actor=actor, obj=project, after=_project_fields(project))
    if owner is not None:
        _set_membership(project, owner, ProjectRole.OWNER)
    return project


@transaction.atomic
def update_project(actor, project: Project, **changes) -> Project:
    _require(actor, project, "change", "You may not change this project.")
    before = _project_fields(project)
    allowed = {"description", "gpu_quota", "gpu_hours_quota"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput({name: ["This field cannot be changed."] for name in sorted(unknown)})
    for field, value in changes.items():
        setattr(project, field, value)
    project.save()
    record_audit("project.update", actor=actor, obj=project, before=before, after=_project_fields(project))
    return project


@transaction.atomic
def delete_project(actor, project: Project) -> None:
    _require(actor, project, "delete", "You may not delete this project.")
    before = _project_fields(project)
    group = project.group
    try:
        with transaction.atomic():  # the audit entry is rolled back with a refused delete
            record_audit("project.delete", actor=actor, obj=project, before=before)
            project.delete()
    except ProtectedError as exc:
        names = sorted({str(o) for o in exc.protected_objects})[:5]
        raise Conflict(f"Project {project.name} still owns {', '.join(names)}; move or delete them first.") from None
    group.delete()


def _set_membership(project: Project, user, role: str, *, from_ldap: bool = False) -> Membership:
    membership, _ = Membership.objects.update_or_create(project=project, user=user,
                                                        defaults={"role": role, "from_ldap": from_ldap})
    user.groups.add(project.group)
    return membership


@transaction.atomic
def add_member(actor, project: Project, username: str, role: str = ProjectRole.MEMBER) -> Membership:
    _require(actor, project, "manage", "Only project owners and administrators may manage members.")
    if role not in ProjectRole.values:
        raise InvalidInput({"role": [f"Must be one of {', '.join(ProjectRole.values)}."]})
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise InvalidInput({"username": [f"No active user named {username!r}."]})
    existing = Membership.objects.filter(project=project, user=user).first()
    before = {"role": existing.role} if existing else None
    membership = _set_membership(project, user, role)
    record_audit("project.member_set", actor=actor, obj=project, before=before,
                 after={"user": username, "role": role})
    return membership


@transaction.atomic
def remove_member(actor, project: Project, username: str) -> None:
    _require(actor, project, "manage", "Only project owners and administrators may manage members.")
    membership = Membership.objects.filter(project=project, user__username=username).select_related("user").first()
    if membership is None:
        raise InvalidInput({"username": [f"{username!r} is not a member of {project.name}."]})
    if membership.role == ProjectRole.OWNER and project.memberships.filter(role=ProjectRole.OWNER).count() == 1:
        raise Conflict(f"{username!r} is the last owner of {project.name}; make someone else owner first.")
    membership.user.groups.remove(project.group)
    membership.delete()
    record_audit("project.member_remove", actor=actor, obj=project, before={"user": username, "role": membership.role})


@transaction.atomic
def grant(actor, project: Project, obj, action: str) -> None:
    """Give a project's members `action` (view/use/manage) on one object."""
    _change_grant(actor, project, obj, action, assign_perm, "grant.add")


@transaction.atomic
def revoke(actor, project: Project, obj, action: str) -> None:
    _change_grant(actor, project, obj, action, remove_perm, "grant.remove")


def _change_grant(actor, project, obj, action, func, audit_action):
    if action not in GRANT_ACTIONS:
        raise InvalidInput({"permission": [f"Must be one of {', '.join(GRANT_ACTIONS)}."]})
    _require(actor, obj, "manage" if _has_codename(obj, "manage") else "change",
             "You may not grant access to this object.")
    codename = f"{action}_{obj._meta.model_name}"
    if not _has_codename(obj, action):
        raise InvalidInput({"permission": [f"{obj._meta.verbose_name} has no {action!r} permission."]})
    func(codename, project.group, obj)
    record_audit(audit_action, actor=actor, obj=obj, after={"project": project.name, "permission": codename})


def _has_codename(obj, action: str) -> bool:
    opts = obj._meta
    codename = f"{action}_{opts.model_name}"
    return action in opts.default_permissions or any(c == codename for c, _ in opts.permissions)
