"""Which Salt policy role (apps.nodes.salt.policy.SaltRole) a portal user calls Salt as.

Data, not code: portal role templates (apps/rbac/roles.py, Django groups of the same names) map to
the policy's roles; settings.SALT_PORTAL_ROLES replaces the map. A user with several groups gets
the most privileged role among them; a superuser is a Salt admin; anyone else a viewer. What each
policy role may call, and the deny list no role escapes, are the policy's (settings.SALT_POLICY).
"""
from __future__ import annotations

from django.conf import settings

from .salt import SaltPolicy, SaltRole

PORTAL_TO_SALT_ROLE: dict[str, str] = {
    "admin": SaltRole.ADMIN,
    "sre": SaltRole.ADMIN,  # "Salt: full" (roles.py); the deny list still binds it
    "engineer": SaltRole.VIEWER,
    "data-developer": SaltRole.VIEWER,
    "model-developer": SaltRole.VIEWER,
}
_RANK = {SaltRole.VIEWER: 0, SaltRole.OPERATOR: 1, SaltRole.ADMIN: 2}


def role_map() -> dict[str, str]:
    return dict(getattr(settings, "SALT_PORTAL_ROLES", None) or PORTAL_TO_SALT_ROLE)


def salt_role_for(user) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return SaltRole.VIEWER
    if user.is_superuser:
        return SaltRole.ADMIN
    mapping = role_map()
    roles = [mapping[g] for g in user.groups.values_list("name", flat=True) if g in mapping]
    return max(roles, key=lambda r: _RANK.get(r, -1), default=SaltRole.VIEWER)


def policy() -> SaltPolicy:
    """The function policy from settings.SALT_POLICY (the default deny list always applies)."""
    data = getattr(settings, "SALT_POLICY", None)
    return SaltPolicy.from_data(data) if data else SaltPolicy()
