"""LDAP group mapping: at each LDAP login, make a user's roles and LDAP-backed project
memberships match their directory groups (settings.AIMATRIX_LDAP_GROUP_MAP, built by
aimatrix/ldap_settings.py from AIMATRIX_LDAP_GROUP_MAP).

Rules
- Role templates (the groups named in ROLE_TEMPLATES) follow LDAP exactly for LDAP users: the
  user holds the union of the roles mapped from their groups, nothing more. Other Django groups
  (project groups, groups made by hand) are left alone here.
- Project memberships from the map are created or updated with `from_ldap=True`, and the user is
  put in the project's group. A project the map names that does not exist yet is created (with
  its `project:<name>` group) by apps.rbac.services.create_project, as the system.
- `from_ldap` memberships whose project no longer comes from any of the user's groups are
  removed, and the user leaves that project's group.
- Memberships made by hand (`from_ldap=False`) are never changed or removed by the sync: a manual
  grant is an explicit decision by a project owner or an administrator.
- When several groups map to one project the strongest role wins (owner > member > viewer).
Every change writes one `user.ldap_sync` audit entry. Without a map (AIMATRIX_LDAP_GROUP_MAP
unset or empty) nothing is synced: LDAP then only checks passwords and roles stay manual.

The error texts below are shown on the login page when the directory cannot be used
(see apps/rbac/signals.py and apps/rbac/forms.py).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction

from apps.core.audit import record_audit

from .models import Membership, Project, ProjectRole
from .roles import ROLE_TEMPLATES

logger = logging.getLogger("aimatrix.rbac.ldap")

LDAP_UNREACHABLE_MESSAGE = ("The directory server (LDAP) is unreachable; try again later or use a "
                            "local account.")
LDAP_ERROR_MESSAGE = ("The directory server (LDAP) returned an error; try again later or use a "
                      "local account.")
# Attribute set on the request by the ldap_error signal handler: "unreachable" or "error".
REQUEST_FLAG = "aimatrix_ldap_error"

_ROLE_RANK = {ProjectRole.VIEWER: 0, ProjectRole.MEMBER: 1, ProjectRole.OWNER: 2}


def login_error_message(kind: str | None) -> str | None:
    return {"unreachable": LDAP_UNREACHABLE_MESSAGE, "error": LDAP_ERROR_MESSAGE}.get(kind or "")


def classify_ldap_error(exception: Exception) -> str:
    """'unreachable' for a directory that is down, refuses, or does not answer in time."""
    import ldap

    unreachable = (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR, ldap.TIMELIMIT_EXCEEDED)
    return "unreachable" if isinstance(exception, unreachable) else "error"


def group_map() -> dict[str, dict]:
    return getattr(settings, "AIMATRIX_LDAP_GROUP_MAP", None) or {}


def normalize_dn(dn: str) -> str:
    from aimatrix.ldap_settings import normalize_dn as normalize

    try:
        return normalize(dn)
    except Exception:  # noqa: BLE001 - a DN the server sent that we cannot parse: compare as text
        return dn.strip().lower()


@dataclass
class MappedAccess:
    roles: set[str] = field(default_factory=set)
    projects: dict[str, str] = field(default_factory=dict)  # project name -> project role


def mapped_access(group_dns, mapping: dict[str, dict] | None = None) -> MappedAccess:
    """What a user in these LDAP groups gets under the map."""
    mapping = group_map() if mapping is None else mapping
    access = MappedAccess()
    for dn in sorted({normalize_dn(dn) for dn in group_dns}):
        entry = mapping.get(dn)
        if not entry:
            continue
        access.roles.update(r for r in entry.get("roles", ()) if r in ROLE_TEMPLATES)
        for name, role in entry.get("projects", {}).items():
            current = access.projects.get(name)
            if current is None or _ROLE_RANK[role] > _ROLE_RANK[current]:
                access.projects[name] = role
    return access


def _project_for_ldap(name: str) -> Project:
    project = Project.objects.filter(name=name).select_related("group").first()
    if project is not None:
        return project
    from . import services

    # The system (actor=None) creates it, with its project:<name> group and its own audit entry.
    try:
        with transaction.atomic():
            return services.create_project(None, name, description="Created by LDAP group mapping.")
    except Exception:  # noqa: BLE001 - created concurrently by another login: use that one
        project = Project.objects.filter(name=name).select_related("group").first()
        if project is None:
            raise
        return project


@transaction.atomic
def sync_ldap_user(user, group_dns) -> list[dict]:
    """Apply the group map to `user` (saved) for these LDAP group DNs; returns the changes."""
    access = mapped_access(group_dns)
    changes: list[dict] = []
    username = user.get_username()

    # 1. Role templates.
    current_roles = set(user.groups.filter(name__in=ROLE_TEMPLATES).values_list("name", flat=True))
    if current_roles != access.roles:
        to_remove = current_roles - access.roles
        if to_remove:
            user.groups.remove(*Group.objects.filter(name__in=to_remove))
        for name in sorted(access.roles - current_roles):
            # Normally created by sync_roles; created empty here if missing so the mapping holds.
            group, _ = Group.objects.get_or_create(name=name)
            user.groups.add(group)
        change = {"before": {"roles": sorted(current_roles)}, "after": {"roles": sorted(access.roles)}}
        record_audit("user.ldap_sync", obj=user, **change)
        changes.append({"kind": "roles", **change})

    # 2. Project memberships backed by LDAP groups.
    existing = {m.project.name: m for m in
                Membership.objects.filter(user=user).select_related("project", "project__group")}
    for name, role in sorted(access.projects.items()):
        membership = existing.get(name)
        if membership is not None and not membership.from_ldap:
            logger.info("LDAP maps %s to %s in %s; keeping the manual membership (%s)",
                        username, role, name, membership.role)
            continue
        if membership is None:
            project = _project_for_ldap(name)
            membership = Membership.objects.create(project=project, user=user, role=role, from_ldap=True)
            before = None
        elif membership.role != role:
            before = {"user": username, "role": membership.role, "from_ldap": True}
            membership.role = role
            membership.save(update_fields=["role"])
        else:
            user.groups.add(membership.project.group)  # repair a group membership lost by hand
            continue
        user.groups.add(membership.project.group)
        change = {"before": before, "after": {"user": username, "role": role, "from_ldap": True}}
        record_audit("user.ldap_sync", obj=membership.project, **change)
        changes.append({"kind": "membership", "project": name, **change})

    # 3. LDAP memberships no longer backed by any group.
    for name, membership in sorted(existing.items()):
        if not membership.from_ldap or name in access.projects:
            continue
        user.groups.remove(membership.project.group)
        membership.delete()
        change = {"before": {"user": username, "role": membership.role, "from_ldap": True}, "after": None}
        record_audit("user.ldap_sync", obj=membership.project, before=change["before"])
        changes.append({"kind": "membership", "project": name, **change})

    if changes:
        logger.info("LDAP sync of %s: %d change(s)", username, len(changes))
    return changes
