"""Make the role-template groups match ROLE_TEMPLATES (idempotent)."""
from __future__ import annotations

import fnmatch

from django.contrib.auth.models import Group, Permission

from .roles import ROLE_TEMPLATES, role_patterns


def resolve(patterns: list[str], permissions: list[tuple[int, str]]) -> set[int]:
    chosen = set()
    for pattern in patterns:
        chosen.update(pk for pk, name in permissions if fnmatch.fnmatchcase(name, pattern))
    return chosen


def sync_roles() -> dict[str, int]:
    """Create the role groups and set exactly the table's permissions; returns counts per role."""
    rows = Permission.objects.values_list("pk", "content_type__app_label", "codename")
    permissions = [(pk, f"{app}.{codename}") for pk, app, codename in rows]
    counts = {}
    for name in ROLE_TEMPLATES:
        group, _ = Group.objects.get_or_create(name=name)
        wanted = resolve(role_patterns(name), permissions)
        group.permissions.set(wanted)
        counts[name] = len(wanted)
    return counts


def sync_roles_after_migrate(sender, **kwargs):
    # post_migrate fires once per app; permissions of every app exist only after the last one.
    from django.apps import apps

    if sender.label == list(apps.get_app_configs())[-1].label:
        sync_roles()
