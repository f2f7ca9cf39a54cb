"""User accounts: create, change, set a password, delete. Permission-checked and audited like
every other change; used by the admin's user pages.

Nobody hands out more than they hold: only a superuser makes (or unmakes, or edits) a superuser,
and a role or permission can be given only by someone who holds every permission in it. Project
groups are not edited here: they follow memberships (apps.rbac.services).
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from apps.core.audit import record_audit
from apps.core.errors import Forbidden, InvalidInput

from .permissions import can

AUDITED_FIELDS = ["username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser"]


def assignable_groups():
    """Groups an account form may list: role templates and other non-project groups."""
    return Group.objects.filter(project__isnull=True)


def _fields(user) -> dict:
    data = {f: getattr(user, f) for f in AUDITED_FIELDS}
    if user.pk:
        data["groups"] = sorted(user.groups.filter(project__isnull=True).values_list("name", flat=True))
        data["user_permissions"] = sorted(
            f"{p.content_type.app_label}.{p.codename}" for p in user.user_permissions.select_related("content_type"))
    return data


def _perm_names(permissions) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions}


def _check_no_escalation(actor, *, superuser_change: bool, groups=(), permissions=()) -> None:
    if actor.is_superuser:
        return
    if superuser_change:
        raise Forbidden("Only a superuser may make, unmake or edit a superuser.")
    held = actor.get_all_permissions()
    for group in groups:
        missing = _perm_names(group.permissions.select_related("content_type")) - held
        if missing:
            raise InvalidInput({"groups": [f"You may not give {group.name}: you do not hold "
                                           f"{', '.join(sorted(missing)[:3])}."]})
    missing = _perm_names(permissions) - held
    if missing:
        raise InvalidInput({"user_permissions": [f"You may not give permissions you do not hold: "
                                                 f"{', '.join(sorted(missing)[:3])}."]})


@transaction.atomic
def create_user(actor, user, *, groups=(), permissions=()):
    """Save a new account (`user` unsaved, its password already hashed by the form)."""
    if not actor.has_perm("auth.add_user"):
        raise Forbidden("You may not create users.")
    _check_no_escalation(actor, superuser_change=user.is_superuser, groups=groups, permissions=permissions)
    user.save()
    user.groups.set(groups)
    user.user_permissions.set(permissions)
    record_audit("user.create", actor=actor, obj=user, after=_fields(user))
    return user


@transaction.atomic
def update_user(actor, user, changes: dict, *, groups=None, permissions=None):
    """Apply `changes` (field -> value) and, when given, the non-project groups and permissions."""
    original = get_user_model().objects.select_for_update().get(pk=user.pk)
    if not can(actor, original, "change"):
        raise Forbidden("You may not change this user.")
    unknown = set(changes) - set(AUDITED_FIELDS)
    if unknown:
        raise InvalidInput({name: ["This field cannot be changed here."] for name in sorted(unknown)})
    new_groups = set(groups) - set(original.groups.all()) if groups is not None else set()
    new_perms = set(permissions) - set(original.user_permissions.all()) if permissions is not None else set()
    _check_no_escalation(actor, superuser_change=original.is_superuser or changes.get("is_superuser", False),
                         groups=new_groups, permissions=new_perms)
    before = _fields(original)
    for field, value in changes.items():
        setattr(original, field, value)
    original.save()
    if groups is not None:  # project groups stay: they follow memberships
        original.groups.set([*groups, *original.groups.filter(project__isnull=False)])
    if permissions is not None:
        original.user_permissions.set(permissions)
    record_audit("user.update", actor=actor, obj=original, before=before, after=_fields(original))
    return original


@transaction.atomic
def set_password(actor, user, raw_password: str | None):
    """A new password, or `None` to disable password login. The value is never audited."""
    if not can(actor, user, "change"):
        raise Forbidden("You may not change this user.")
    _check_no_escalation(actor, superuser_change=user.is_superuser)
    if raw_password is None:
        user.set_unusable_password()
    else:
        user.set_password(raw_password)
    user.save(update_fields=["password"])
    record_audit("user.password_set", actor=actor, obj=user, after={"usable": raw_password is not None})
    return user


@transaction.atomic
def delete_user(actor, user) -> None:
    if not can(actor, user, "delete"):
        raise Forbidden("You may not delete this user.")
    _check_no_escalation(actor, superuser_change=user.is_superuser)
    record_audit("user.delete", actor=actor, obj=user, before=_fields(user))
    user.delete()

