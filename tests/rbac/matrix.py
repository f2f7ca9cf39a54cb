"""Helpers for permission-matrix tests: one user per role template plus anonymous."""
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from apps.rbac.roles import ROLE_TEMPLATES

ROLES = list(ROLE_TEMPLATES)
ALL = ROLES + ["anonymous"]


def role_users(django_user_model) -> dict:
    users = {}
    for role in ROLES:
        user = django_user_model.objects.create_user(username=f"u-{role}", password="pw-Matrix-Test-1")
        user.groups.add(Group.objects.get(name=role))
        users[role] = django_user_model.objects.get(pk=user.pk)
    users["anonymous"] = None
    return users


def call(user, method: str, url: str, data=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return getattr(client, method.lower())(url, data, format="json")


def expand(spec: dict) -> dict:
    """{"admin,sre": 200, "*": 404} -> a code for every role and anonymous."""
    out = {}
    for key, code in spec.items():
        if key != "*":
            for role in key.split(","):
                out[role.strip()] = code
    for role in ALL:
        out.setdefault(role, spec.get("*"))
    return out
