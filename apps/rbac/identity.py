"""Read models for /me and /roles."""
from django.contrib.auth.models import Group

from .models import Membership
from .roles import ROLE_TEMPLATES


def role_catalogue() -> list[dict]:
    groups = {g.name: g for g in Group.objects.filter(name__in=ROLE_TEMPLATES).prefetch_related(
        "permissions__content_type")}
    out = []
    for name, spec in ROLE_TEMPLATES.items():
        group = groups.get(name)
        perms = sorted(f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()) if group else []
        out.append({"name": name, "description": spec["description"], "permissions": perms})
    return out


def describe_user(user) -> dict:
    memberships = Membership.objects.filter(user=user).select_related("project").order_by("project__name")
    return {
        "id": user.pk,
        "username": user.get_username(),
        "email": user.email,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "roles": sorted(user.groups.filter(name__in=ROLE_TEMPLATES).values_list("name", flat=True)),
        "projects": [{"id": m.project_id, "name": m.project.name, "role": m.role} for m in memberships],
        "permissions": sorted(user.get_all_permissions()),
    }
