"""The portal acting on its own (beat tasks, the GPU health hook): starts jobs and writes audit
entries as "system". It is nobody: not authenticated, so it reaches no page or API."""
from __future__ import annotations


class SystemActor:
    is_authenticated = False
    is_anonymous = False
    is_active = True
    is_superuser = False
    pk = None

    def has_perm(self, perm: str, obj=None) -> bool:
        return True  # the portal's own periodic work (what settings and beat schedule it)

    def get_username(self) -> str:
        return "system"

    def __str__(self) -> str:
        return "system"


SYSTEM = SystemActor()


def is_system(actor) -> bool:
    return actor is SYSTEM
