"""What a one-time token is for. Each purpose says who may issue a token for which subject and what
redeeming it delivers. `secret` is built in; other apps register theirs (e.g. node enrollment) in
their AppConfig.ready():

    from apps.keyvault.purposes import TokenPurpose, register
    register(TokenPurpose("node_enrollment", "Enroll a node", authorize=..., deliver=...))

`authorize(user, subject)` raises a ServiceError (Forbidden / InvalidInput) or returns the
subject's key (its primary key, kept in `OneTimeToken.subject_key`; the subject text is for
display), so a rename between issue and redemption never changes what is delivered.
`deliver(token)` runs inside the transaction that consumed the token and returns the JSON body for
the redeemer; raising a ServiceError rolls the consumption back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from apps.core.errors import Forbidden, InvalidInput
from apps.rbac.permissions import can


@dataclass(frozen=True)
class TokenPurpose:
    name: str
    label: str
    authorize: Callable
    deliver: Callable
    # Model permission needed to issue tokens of this purpose (on top of authorize()).
    permission: str = "keyvault.add_onetimetoken"


_registry: dict[str, TokenPurpose] = {}


def register(purpose: TokenPurpose) -> TokenPurpose:
    _registry[purpose.name] = purpose
    return purpose


def get(name: str) -> TokenPurpose | None:
    return _registry.get(name)


def all_purposes() -> list[TokenPurpose]:
    return sorted(_registry.values(), key=lambda p: p.name)


# --- built-in: deliver one secret's value once ---------------------------------------------
def _authorize_secret(user, subject: str) -> str:
    from .models import Secret

    secret = Secret.objects.filter(name=subject).first()
    # Same answer for "missing" and "not yours": the name of a hidden secret is not confirmed.
    if secret is None or not can(user, secret, "view"):
        raise InvalidInput({"subject": [f"No secret named {subject!r} that you may access."]})
    # A token hands the value out: exactly what reveal allows, no less.
    if not can(user, secret, "reveal"):
        raise Forbidden(f"You may not hand out secret {subject!r}: a secret token needs the same reveal "
                        "access as revealing it (keyvault.reveal_secret and operator or project-owner access).")
    if secret.is_expired:
        raise InvalidInput({"subject": [f"Secret {subject!r} has expired; it cannot be handed out."]})
    return str(secret.pk)


def _deliver_secret(token) -> dict:
    from . import services
    from .models import AccessKind, Secret

    secret = Secret.objects.filter(pk=token.subject_key).first() if token.subject_key.isdigit() else None
    if secret is None:
        raise services.SecretUnavailable(f"Secret {token.subject!r} no longer exists.")
    if token.created_by is None or not can(token.created_by, secret, "reveal"):
        raise services.SecretUnavailable(f"The issuer of this token may no longer reveal secret {secret.name!r}.")
    purpose = f"one-time token {token.token_prefix}… ({token.pk}) redeemed from {token.consumed_by_ip or '-'}"
    value = services.use_secret(secret, purpose, actor=token.created_by, kind=AccessKind.TOKEN)
    return {"name": secret.name, "kind": secret.kind, "version": secret.version, "value": value}


register(TokenPurpose("secret", "Deliver one secret's value once", _authorize_secret, _deliver_secret))


def check_issue(user, purpose_name: str, subject: str) -> tuple[TokenPurpose, str]:
    """The purpose and the subject's key, or a ServiceError."""
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 200:
        raise InvalidInput({"subject": ["Name what the token is for (1-200 characters)."]})
    purpose = get(purpose_name)
    if purpose is None:
        known = ", ".join(p.name for p in all_purposes())
        raise InvalidInput({"purpose": [f"Unknown purpose {purpose_name!r}. Known purposes: {known}."]})
    if not user.has_perm(purpose.permission):
        raise Forbidden(f"You do not have permission to issue {purpose.name!r} tokens.")
    key = purpose.authorize(user, subject)
    return purpose, str(key if key is not None else subject)[:64]
