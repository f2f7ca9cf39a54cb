"""Secrets: create, update, delete, reveal to a person, use by the system, rotate the key.

Views, the admin, the API, tasks and other apps call these functions; nothing else touches
Secret.ciphertext. Nothing here logs or audits a value: audit entries carry metadata only.
One-time tokens live in onetime.py.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import ProtectedError

from apps.core import request_context
from apps.core.audit import record_audit
from apps.core.errors import Conflict, Forbidden, InvalidInput, ServiceError
from apps.rbac import permissions
from apps.rbac.permissions import can, restrict

from apps.core import netpolicy

from . import crypto, destinations
from .models import AccessKind, Secret, SecretAccess, SecretKind

logger = logging.getLogger(__name__)

MAX_VALUE_LENGTH = 64 * 1024


class SecretIntegrityError(ServiceError):
    """The stored value cannot be read back intact; the value is not handed out."""

    status = 500
    code = "integrity_error"


class SecretUnavailable(Conflict):
    """Expired or gone: the secret may not be used now."""

    code = "unavailable"


# --- visibility -------------------------------------------------------------------------------
def visible_secrets(user):
    return restrict(Secret.objects.all(), user, "view")


def may_act_in_project(user, project, action: str) -> bool:
    """May the user create (or move) a secret into `project`? None = operator-only secrets."""
    return permissions.may_act_in_project(user, Secret, project, action)


def metadata(secret: Secret) -> dict:
    """What audit entries record about a secret: never the value, ciphertext or checksum."""
    return {"name": secret.name, "kind": secret.kind, "project": secret.project.name if secret.project_id else None,
            "version": secret.version, "description": secret.description,
            "destinations": list(secret.destinations or []),
            "expires_at": secret.expires_at.isoformat() if secret.expires_at else None}


# --- writes -------------------------------------------------------------------------------------
def _check_value(value, kind: str = "") -> str:
    if not isinstance(value, str) or value == "":
        raise InvalidInput({"value": ["A non-empty text value is required."]})
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidInput({"value": [f"At most {MAX_VALUE_LENGTH} characters."]})
    if "\x00" in value:
        raise InvalidInput({"value": ["NUL characters are not allowed; base64-encode binary values."]})
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput({"value": ["Not valid Unicode text (lone surrogate)."]}) from None
    if kind == SecretKind.BMC_CREDENTIALS and split_bmc_credentials(value) is None:
        raise InvalidInput({"value": ["BMC credentials are 'username:password' (both non-empty)."]})
    return value


def split_bmc_credentials(value: str) -> tuple[str, str] | None:
    """(username, password) of a 'username:password' value, or None. Never guessed: without
    "user:", ipmitool would get the whole value as its -U argument."""
    user, sep, password = value.partition(":")
    return (user, password) if sep and user.strip() and password else None


def _set_value(secret: Secret, value: str) -> None:
    secret.ciphertext = crypto.encrypt(value)
    secret.checksum = crypto.checksum(value)


def _destinations(value) -> list[str]:
    try:
        return destinations.normalise(value)
    except ValidationError as exc:
        raise InvalidInput({"destinations": exc.messages}) from None


def _validate_and_save(secret: Secret) -> None:
    try:
        secret.full_clean()
    except ValidationError as exc:
        raise InvalidInput(exc.message_dict) from None
    secret.save()


def create_secret(user, *, name, value, kind="other", project=None, description="", expires_at=None,
                  destinations=None) -> Secret:
    """`destinations` (CIDRs / host names) defaults to settings.SECRET_DEFAULT_DESTINATIONS."""
    if not may_act_in_project(user, project, "add"):
        where = f"project {project}" if project is not None else "no project (operators only)"
        raise Forbidden(f"You may not add secrets to {where}.")
    allowed = _destinations(settings.SECRET_DEFAULT_DESTINATIONS if destinations is None else destinations)
    secret = Secret(name=name, kind=kind, project=project, description=description or "", expires_at=expires_at,
                    destinations=allowed, created_by=user, updated_by=user)
    _set_value(secret, _check_value(value, kind))
    with transaction.atomic():
        _validate_and_save(secret)
        record_audit("keyvault.secret.create", actor=user, obj=secret, after=metadata(secret))
    return secret


_UNSET = object()


def update_secret(user, secret: Secret, *, value=_UNSET, **fields) -> Secret:
    """Change metadata (name, kind, project, description, expires_at, destinations) and/or set a new value."""
    if not can(user, secret, "change"):
        raise Forbidden(f"You may not change secret {secret.name!r}.")
    unknown = set(fields) - {"name", "kind", "project", "description", "expires_at", "destinations"}
    if unknown:
        raise InvalidInput({name: ["Not a changeable field."] for name in sorted(unknown)})
    if "project" in fields and fields["project"] != secret.project and not may_act_in_project(
            user, fields["project"], "change"):
        raise Forbidden(f"You may not move secrets to project {fields['project'] or '(none)'}.")
    if "destinations" in fields:
        fields["destinations"] = _destinations(fields["destinations"])
    with transaction.atomic():
        locked = Secret.objects.select_for_update().get(pk=secret.pk)
        before = metadata(locked)
        for name, new in fields.items():
            setattr(locked, name, new)
        value_changed = value is not _UNSET
        if value_changed:
            _set_value(locked, _check_value(value, locked.kind))
            locked.version += 1
        locked.updated_by = user
        _validate_and_save(locked)
        after = {**metadata(locked), "value_changed": value_changed}
        record_audit("keyvault.secret.update", actor=user, obj=locked, before=before, after=after)
    return locked


def put_secret(user, *, name, kind, value, destinations) -> Secret:
    """Create the named secret, or give the existing one this value and these destinations (the
    lab registrations, which run again on every `make lab`)."""
    existing = Secret.objects.filter(name=name).first()
    if existing is None:
        return create_secret(user, name=name, kind=kind, value=value, destinations=destinations)
    return update_secret(user, existing, value=value, destinations=destinations)


def references(secret: Secret, limit: int = 20) -> list[tuple[str, list[str]]]:
    """What keeps `secret` from being deleted: (what, first names) per protecting relation, e.g.
    ("nodes using it as ssh credential", ["gpu01"]). Read from the model's relations, so the vault
    names nodes, BMCs, clusters... without importing the apps that own them. One query each."""
    out = []
    for rel in Secret._meta.related_objects:
        if getattr(rel, "on_delete", None) is not models.PROTECT:
            continue
        rows = rel.related_model._default_manager.filter(**{rel.field.name: secret})[:limit]
        names = [str(row) for row in rows]
        if names:
            out.append((f"{rel.related_model._meta.verbose_name_plural} using it as {rel.field.verbose_name}", names))
    return out


def delete_secret(user, secret: Secret) -> None:
    if not can(user, secret, "delete"):
        raise Forbidden(f"You may not delete secret {secret.name!r}.")
    before = metadata(secret)
    try:
        with transaction.atomic():
            record_audit("keyvault.secret.delete", actor=user, obj=secret, before=before)
            secret.delete()
    except ProtectedError as exc:
        users = sorted({str(o) for o in exc.protected_objects})[:5]
        raise Conflict(f"Secret {secret.name!r} is still referenced by: {', '.join(users)}.") from None


# --- reads of the value -------------------------------------------------------------------------
def _plaintext(secret: Secret) -> str:
    """Decrypt the stored (current) value of `secret`, refreshed from the database first, so a
    stale instance never yields an older value."""
    try:
        secret.refresh_from_db(fields=["name", "ciphertext", "checksum", "version", "expires_at"])
    except Secret.DoesNotExist:
        raise SecretUnavailable(f"Secret {secret.name!r} no longer exists.") from None
    if secret.is_expired:
        raise SecretUnavailable(f"Secret {secret.name!r} expired at {secret.expires_at:%Y-%m-%d %H:%M:%S %Z}; "
                                "it may not be used or revealed.")
    try:
        return crypto.decrypt_verified(secret.ciphertext, secret.checksum)
    except (crypto.DecryptionFailed, crypto.ChecksumMismatch) as exc:
        logger.error("keyvault: integrity check failed for secret %s (id %s, version %s): %s",
                     secret.name, secret.pk, secret.version, exc)
        raise SecretIntegrityError(f"Secret {secret.name!r} failed its integrity check: {exc}. "
                                   "The value was not returned.") from None


def _log_access(secret: Secret, kind: str, purpose: str, actor) -> SecretAccess:
    ctx = request_context.current()
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    if is_user:
        actor_repr = actor.get_username()
    else:
        actor_repr = str(actor) if actor else "system"
    return SecretAccess.objects.create(
        secret=secret, secret_name=secret.name, kind=kind, actor=actor if is_user else None,
        actor_repr=actor_repr[:200], purpose=(purpose or "")[:200], version=secret.version,
        ip=ctx.ip, request_id=ctx.request_id)


def use_secret(secret: Secret, purpose: str, actor=None, *, kind: str = AccessKind.USE,
               destination: tuple[str, list] | None = None) -> str:
    """The system reads a value to send it somewhere (a task opening an SSH session, a BMC call).

    `destination` is (host as registered, addresses it resolved to and that will be connected
    to): a USE read without one is a programming error, and one outside the secret's
    destinations is refused (DestinationRefused) before the value is decrypted. `actor` is the
    user on whose behalf it happens (a job's requester), or a short text naming the component
    ("beat nodes.poll_power_states"). Every read is logged in SecretAccess. Returns the plaintext.
    """
    if not purpose:
        raise InvalidInput({"purpose": ["Say why the secret is read."]})
    if kind == AccessKind.USE:
        if destination is None:
            raise ValueError("use_secret(kind=USE) needs the destination the value is sent to")
        secret.refresh_from_db(fields=["destinations"])
        host, addresses = destination
        destinations.check(secret.name, secret.destinations, host, addresses)
        purpose = f"{purpose} -> {host}"
    value = _plaintext(secret)
    _log_access(secret, kind, purpose, actor)
    return value


def check_use(user, secret: Secret | None, field: str) -> None:
    """May `user` bind `secret` (and so have jobs send it)? 400 naming `field` for a secret the
    user cannot see (existence not confirmed), 403 for one they see but may not use."""
    if secret is None:
        return
    if not can(user, secret, "view"):
        raise InvalidInput({field: ["Unknown secret, or you may not use it."]})
    if not can(user, secret, "use"):
        raise Forbidden(f"You may not use secret {secret.name!r}: binding it needs the keyvault.use_secret "
                        "permission and operator or project-member access to the secret.")


def check_binding(user, secret: Secret | None, host: str, field: str) -> None:
    """Bind time: the user may use the secret, and `host` (what it resolves to now) lies within
    the secret's destinations. 400 naming `field` with the secret and the address otherwise."""
    if secret is None:
        return
    check_use(user, secret, field)
    try:
        addresses = netpolicy.resolve(host)
    except netpolicy.Unresolvable:
        addresses = []  # only a host-name destination can match an unresolvable name
    try:
        destinations.check(secret.name, secret.destinations, host, addresses)
    except destinations.DestinationRefused as exc:
        raise InvalidInput({field: [str(exc)]}) from None


def reveal_secret(user, secret: Secret, reason: str = "") -> str:
    """A person reads a value: needs keyvault.reveal_secret and reveal access to this secret."""
    if not can(user, secret, "view"):
        raise Forbidden(f"You may not see secret {secret.name!r}.")
    if not can(user, secret, "reveal"):
        raise Forbidden(f"You may not reveal secret {secret.name!r}: it needs the keyvault.reveal_secret "
                        "permission and operator or project-owner access.")
    with transaction.atomic():
        value = _plaintext(secret)
        _log_access(secret, AccessKind.REVEAL, reason or "revealed", user)
        record_audit("keyvault.secret.reveal", actor=user, obj=secret,
                     after={"version": secret.version, "reason": reason[:200]})
    return value


# --- key rotation --------------------------------------------------------------------------------
def rotate_encryption_key(*, dry_run: bool = False) -> dict:
    """Re-encrypt every secret with the first key and re-make its checksum under that key.

    Each row is locked, read back and verified before it is rewritten; unreadable rows are
    counted, named and left untouched. The version does not change (the value did not).
    """
    counts = {"total": 0, "rotated": 0, "from_older_key": 0, "failed": 0, "failed_names": []}
    for pk in Secret.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            secret = Secret.objects.select_for_update().filter(pk=pk).first()
            if secret is None:
                continue
            counts["total"] += 1
            try:
                plaintext = crypto.decrypt_verified(secret.ciphertext, secret.checksum)
            except (crypto.DecryptionFailed, crypto.ChecksumMismatch) as exc:
                logger.error("keyvault rotation: secret %s (id %s) is unreadable: %s", secret.name, pk, exc)
                counts["failed"] += 1
                counts["failed_names"].append(secret.name)
                continue
            if not crypto.is_current(secret.ciphertext):
                counts["from_older_key"] += 1
            if dry_run:
                continue
            _set_value(secret, plaintext)
            Secret.objects.filter(pk=pk).update(ciphertext=secret.ciphertext, checksum=secret.checksum)
            counts["rotated"] += 1
    if not dry_run:
        record_audit("keyvault.rotate_encryption_key", after={
            **{k: v for k, v in counts.items() if k != "failed_names"}, "failed_names": counts["failed_names"][:50],
            "keys_configured": len(crypto.configured_keys())})
    return counts
