"""Projects, memberships and object grants. Every change is permission-checked and audited."""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import PROTECT, Model, ProtectedError
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import assign_perm, remove_perm

from apps.core.audit import record_audit
from apps.core.contenttypes import content_type_for
from apps.core.errors import Conflict, Forbidden, InvalidInput

from .models import Membership, Project, ProjectRole, slug_validator
from .permissions import can, has_action, restrict

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


# Quotas limit what a project may use, so they are set by operators (the model permission),
# not by the project's own owners.
QUOTA_FIELDS = {"gpu_quota", "gpu_hours_quota"}


@transaction.atomic
def update_project(actor, project: Project, **changes) -> Project:
    _require(actor, project, "change", "You may not change this project.")
    before = _project_fields(project)
    allowed = {"description"} | QUOTA_FIELDS
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput({name: ["This field cannot be changed."] for name in sorted(unknown)})
    quotas = sorted(f for f in QUOTA_FIELDS & set(changes) if changes[f] != getattr(project, f))
    if quotas and not actor.has_perm("rbac.change_project"):
        raise InvalidInput({name: ["Only operators may change quotas."] for name in quotas})
    for field, value in changes.items():
        setattr(project, field, value)
    project.save()
    record_audit("project.update", actor=actor, obj=project, before=before, after=_project_fields(project))
    return project


def visible_projects(actor):
    """The projects `actor` may see (the permission layer's rule), for lists and pages."""
    return restrict(Project.objects.all(), actor, "view")


def delete_blockers(project: Project) -> list[tuple[str, int]]:
    """(what, how many) of the rows that keep the project from being deleted: every model that
    points at projects with on_delete=PROTECT (nodes, secrets, later allocations...), found
    through the model graph so rbac imports no higher app."""
    blockers = []
    for relation in Project._meta.related_objects:
        if relation.on_delete is not PROTECT or relation.many_to_many:
            continue
        count = relation.related_model._default_manager.filter(**{relation.field.name: project}).count()
        if count:
            meta = relation.related_model._meta
            blockers.append((str(meta.verbose_name if count == 1 else meta.verbose_name_plural), count))
    return sorted(blockers)


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


MANAGE_MEMBERS_MESSAGE = "Only project owners and administrators may manage members."


def _is_last_owner(project: Project, membership: Membership | None) -> bool:
    return membership is not None and membership.role == ProjectRole.OWNER and \
        project.memberships.filter(role=ProjectRole.OWNER).count() == 1


@transaction.atomic
def add_member(actor, project: Project, username: str, role: str = ProjectRole.MEMBER) -> Membership:
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        _require(actor, project, "manage", MANAGE_MEMBERS_MESSAGE)  # refuse before naming users
        raise InvalidInput({"username": [f"No active user named {username!r}."]})
    return set_member(actor, project, user, role)


@transaction.atomic
def set_member(actor, project: Project, user, role: str) -> Membership:
    """Add `user` to the project with `role`, or change their role; the project's group follows.
    The last owner cannot be demoted: a project always has someone who can manage it."""
    _require(actor, project, "manage", MANAGE_MEMBERS_MESSAGE)
    if role not in ProjectRole.values:
        raise InvalidInput({"role": [f"Must be one of {', '.join(ProjectRole.values)}."]})
    if not user.is_active:
        raise InvalidInput({"username": [f"{user.get_username()!r} is not an active user."]})
    existing = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if role != ProjectRole.OWNER and _is_last_owner(project, existing):
        raise Conflict(f"{user.get_username()!r} is the last owner of {project.name}; "
                       "make someone else owner first.")
    before = {"user": user.get_username(), "role": existing.role} if existing else None
    membership = _set_membership(project, user, role)
    record_audit("project.member_set", actor=actor, obj=project, before=before,
                 after={"user": user.get_username(), "role": role})
    return membership


@transaction.atomic
def remove_member(actor, project: Project, username: str) -> None:
    _require(actor, project, "manage", MANAGE_MEMBERS_MESSAGE)
    membership = Membership.objects.select_for_update().filter(
        project=project, user__username=username).select_related("user").first()
    if membership is None:
        raise InvalidInput({"username": [f"{username!r} is not a member of {project.name}."]})
    if _is_last_owner(project, membership):
        raise Conflict(f"{username!r} is the last owner of {project.name}; make someone else owner first.")
    membership.user.groups.remove(project.group)
    membership.delete()
    record_audit("project.member_remove", actor=actor, obj=project, before={"user": username, "role": membership.role})


# --- object grants -------------------------------------------------------------------------
# A grant gives a project (its members, through the project's group) or one user an action on one
# object (django-guardian object permission). Granting needs the right to manage the object (no
# one hands out access to what they do not steward) and the right to manage the grantee (the
# project's owners, or an administrator for a user). Revoking needs either: a project may give up
# access, and a steward may take it back.

@dataclass(frozen=True)
class Grant:
    id: int
    object_type: str  # "app_label.model"
    object_id: str
    object_repr: str
    permission: str  # the action: view, use, manage


def _grant_rows(grantee):
    if isinstance(grantee, Project):
        return GroupObjectPermission.objects.filter(group_id=grantee.group_id)
    return UserObjectPermission.objects.filter(user=grantee)


def _grantee_fields(grantee) -> dict:
    if isinstance(grantee, Project):
        return {"project": grantee.name}
    return {"user": grantee.get_username()}


def may_manage_grantee(actor, grantee) -> bool:
    if isinstance(grantee, Project):
        return can(actor, grantee, "manage")
    return actor.has_perm("auth.change_user")


def may_view_grants(actor, grantee) -> bool:
    if isinstance(grantee, Project):
        return can(actor, grantee, "view")
    return actor.pk == grantee.pk or actor.has_perm("auth.view_user")


def may_manage_object(actor, obj) -> bool:
    return can(actor, obj, "manage" if has_action(obj, "manage") else "change")


def list_grants(actor, grantee) -> list[Grant]:
    if not may_view_grants(actor, grantee):
        raise Forbidden("You may not see these grants.")
    rows = list(_grant_rows(grantee).select_related("permission", "content_type").order_by("id"))
    objects = {}
    for ct in {row.content_type for row in rows}:
        pks = [row.object_pk for row in rows if row.content_type_id == ct.pk]
        model = ct.model_class()
        if model is not None:  # names only of objects the viewer may see
            visible = restrict(model._default_manager.filter(pk__in=pks), actor, "view")
            objects.update({(ct.pk, str(o.pk)): o for o in visible})
    return [Grant(id=row.pk, object_type=f"{row.content_type.app_label}.{row.content_type.model}",
                  object_id=row.object_pk,
                  object_repr=str(objects.get((row.content_type_id, row.object_pk), "(not visible, or deleted)")),
                  permission=row.permission.codename.removesuffix(f"_{row.content_type.model}"))
            for row in rows]


def find_object(actor, object_type: str, object_id) -> Model:
    """The object `object_type` ("app_label.model") / `object_id` names, if the actor may see it.
    Unknown, malformed and hidden objects answer alike, so nothing is revealed."""
    app_label, _, model_name = (object_type or "").partition(".")
    ct = ContentType.objects.filter(app_label=app_label, model=model_name).first()
    model = ct.model_class() if ct else None
    if model is None or not is_grantable(model):
        raise InvalidInput({"object_type": [f"Unknown object type {object_type!r}: use one of "
                                            f"{', '.join(t for t, _ in grantable_types())}."]})
    try:
        obj = restrict(model._default_manager.all(), actor, "view").filter(pk=object_id).first()
    except (ValueError, TypeError, ValidationError):
        obj = None
    if obj is None:
        raise InvalidInput({"object_id": ["Unknown object, or you may not see it."]})
    return obj


@transaction.atomic
def revoke_grant(actor, grantee, grant_id) -> None:
    """Revoke one grant row of `grantee`, by its id (as listed by list_grants)."""
    row = _grant_rows(grantee).select_related("permission", "content_type").filter(pk=grant_id).first() \
        if str(grant_id).isdigit() else None
    if row is None:
        raise InvalidInput({"grant": [f"No grant {grant_id} held by {_describe(grantee)}."]})
    model = row.content_type.model_class()
    obj = model._default_manager.filter(pk=row.object_pk).first() if model else None
    action = row.permission.codename.removesuffix(f"_{row.content_type.model}")
    if obj is not None:
        revoke(actor, grantee, obj, action)
        return
    # The object is gone: only the grantee's side can tidy up what is left of the grant.
    if not may_manage_grantee(actor, grantee):
        raise Forbidden("You may not revoke this grant.")
    row.delete()
    record_audit("grant.remove", actor=actor, obj=grantee,
                 before={**_grantee_fields(grantee), "permission": row.permission.codename,
                         "object": f"{row.content_type.app_label}.{row.content_type.model}:{row.object_pk}"})


@transaction.atomic
def grant(actor, grantee, obj, action: str) -> Grant:
    """Give `grantee` (a project, for all its members, or a user) `action` on one object."""
    _check_grant_action(obj, action)
    if not (may_manage_object(actor, obj) and may_manage_grantee(actor, grantee)):
        raise Forbidden("You may not grant access to this object.")
    codename = f"{action}_{obj._meta.model_name}"
    if _held(grantee, obj, codename).exists():
        raise Conflict(f"{_describe(grantee)} already holds {action!r} on {obj}.")
    row = assign_perm(codename, _grantee_holder(grantee), obj)
    record_audit("grant.add", actor=actor, obj=obj, after={**_grantee_fields(grantee), "permission": codename})
    return Grant(id=row.pk, object_type=f"{obj._meta.app_label}.{obj._meta.model_name}", object_id=str(obj.pk),
                 object_repr=str(obj), permission=action)


def grant_by_reference(actor, grantee, object_type: str, object_id, action: str) -> Grant:
    """grant() for an object named by type and id (API, pages). Who may not grant to `grantee`
    is refused before the object is looked up."""
    if not may_manage_grantee(actor, grantee):
        raise Forbidden("You may not grant access to this project or user.")
    return grant(actor, grantee, find_object(actor, object_type, object_id), action)


@transaction.atomic
def revoke(actor, grantee, obj, action: str) -> None:
    _check_grant_action(obj, action)
    if not (may_manage_object(actor, obj) or may_manage_grantee(actor, grantee)):
        raise Forbidden("You may not revoke access to this object.")
    codename = f"{action}_{obj._meta.model_name}"
    if not _held(grantee, obj, codename).exists():
        raise InvalidInput({"grant": [f"{_describe(grantee)} holds no {action!r} grant on {obj}."]})
    remove_perm(codename, _grantee_holder(grantee), obj)
    record_audit("grant.remove", actor=actor, obj=obj,
                 before={**_grantee_fields(grantee), "permission": codename})


def _held(grantee, obj, codename: str):
    return _grant_rows(grantee).filter(permission__codename=codename, object_pk=str(obj.pk),
                                       content_type=content_type_for(obj))


def _grantee_holder(grantee):
    return grantee.group if isinstance(grantee, Project) else grantee


def _describe(grantee) -> str:
    return f"Project {grantee.name}" if isinstance(grantee, Project) else f"User {grantee.get_username()}"


def _check_grant_action(obj, action: str) -> None:
    if action not in GRANT_ACTIONS:
        raise InvalidInput({"permission": [f"Must be one of {', '.join(GRANT_ACTIONS)}."]})
    if not has_action(obj, action):
        raise InvalidInput({"permission": [f"{obj._meta.verbose_name} has no {action!r} permission."]})


def is_grantable(model) -> bool:
    """Grants name objects the permission layer places in projects, with a grantable action."""
    return bool(getattr(model, "rbac_project_field", None)) and any(has_action(model, a) for a in GRANT_ACTIONS)


def grantable_types() -> list[tuple[str, str]]:
    """("app_label.model", label) of every grantable model: the choices of the grant form."""
    from django.apps import apps

    return sorted(((f"{m._meta.app_label}.{m._meta.model_name}", str(m._meta.verbose_name).capitalize())
                   for m in apps.get_models() if is_grantable(m)), key=lambda c: c[1])
