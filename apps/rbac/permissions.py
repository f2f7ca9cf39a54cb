"""The one permission layer: every API viewset, page, admin and websocket asks it.

An object is reachable for an action when the user
- is a superuser, or
- is the object's owner (models name the field in `rbac_owner_field`), or
- holds the model permission `<app>.<action>_<model>` and
  - holds `rbac.unrestricted` (admin and sre roles), or
  - is a member of the object's project (`rbac_project_field`) with a project role that allows
    the action (viewer: view; member: view/use/change/cancel; owner: everything), or
  - was granted the object permission, directly or through a project group (django-guardian).

`restrict()` turns that into a queryset filter, so lists, details and counts share one rule
(as NetBox's restricted querysets do); there are no per-view if-statements.
"""
from __future__ import annotations

from django.db.models import Model, Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from .models import Membership, Project, ProjectRole

READ_ACTIONS = {"view"}
MEMBER_ACTIONS = {"view", "use", "change", "cancel", "add"}


def project_roles_for(action: str) -> list[str]:
    if action in READ_ACTIONS:
        return [ProjectRole.OWNER, ProjectRole.MEMBER, ProjectRole.VIEWER]
    if action in MEMBER_ACTIONS:
        return [ProjectRole.OWNER, ProjectRole.MEMBER]
    return [ProjectRole.OWNER]


def perm_name(model, action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def restrict(queryset: QuerySet, user, action: str = "view") -> QuerySet:
    model = queryset.model
    if user is None or not user.is_authenticated or not user.is_active:
        return queryset.none()
    if user.is_superuser:
        return queryset
    condition = Q(pk__in=[])
    owner_field = getattr(model, "rbac_owner_field", None)
    if owner_field:
        condition |= Q(**{owner_field: user})
    if getattr(model, "rbac_project_owners_have_every_action", False):
        owned = Membership.objects.filter(user=user, role=ProjectRole.OWNER).values("project_id")
        condition |= Q(**{f"{model.rbac_project_field}__in": owned})
    if user.has_perm(perm_name(model, action)):
        if user.has_perm("rbac.unrestricted"):
            return queryset
        project_field = getattr(model, "rbac_project_field", None)
        if project_field:
            projects = Membership.objects.filter(user=user, role__in=project_roles_for(action)).values("project_id")
            condition |= Q(**{f"{project_field}__in": projects})
        codename = f"{action}_{model._meta.model_name}"
        if codename in _object_codenames(model):
            granted = get_objects_for_user(user, codename, klass=model, use_groups=True,
                                           with_superuser=False, accept_global_perms=False)
            condition |= Q(pk__in=granted.values("pk"))
    return queryset.filter(condition)


def _object_codenames(model) -> set[str]:
    opts = model._meta
    return {f"{p}_{opts.model_name}" for p in opts.default_permissions} | {c for c, _ in opts.permissions}


def has_action(model, action: str) -> bool:
    """Does `model` have an `<action>_<model>` permission (default or declared)?"""
    return f"{action}_{model._meta.model_name}" in _object_codenames(model)


def can(user, obj: Model, action: str = "view") -> bool:
    """Object-level check for one object, by the same rule as restrict()."""
    return restrict(type(obj)._default_manager.filter(pk=obj.pk), user, action).exists()


def projects_to_act_in(user, model, action: str) -> QuerySet:
    """The projects the user may put an object of `model` in (by may_act_in_project's rule): the
    choices of a project field in forms and the admin."""
    if user.is_superuser or (user.has_perm(perm_name(model, action)) and user.has_perm("rbac.unrestricted")):
        return Project.objects.all()
    if not user.has_perm(perm_name(model, action)):
        return Project.objects.none()
    return Project.objects.filter(memberships__user=user, memberships__role__in=project_roles_for(action))


def may_act_in_project(user, model, project, action: str) -> bool:
    """May the user create (or move) an object of `model` into `project`? Operators (superuser,
    rbac.unrestricted) may place objects anywhere, including in no project; others need the model
    permission and a project role that allows the action."""
    if user.is_superuser:
        return True
    if not user.has_perm(perm_name(model, action)):
        return False
    if user.has_perm("rbac.unrestricted"):
        return True
    return project is not None and Membership.objects.filter(
        user=user, project=project, role__in=project_roles_for(action)).exists()
