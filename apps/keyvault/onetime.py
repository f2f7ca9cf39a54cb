"""One-time tokens: issue, list, revoke, redeem (exactly once).

Redemption checks, in order: signature (constant time) -> expiry -> the token row (exists, same
hash, not revoked) -> not yet consumed -> bound IP -> request timestamp -> an atomic conditional
UPDATE that only one redeemer can win -> the purpose's delivery, in the same transaction. Every
attempt is written to TokenRedemption. Refusals carry a `code`:

    invalid 400, forged 403, wrong_ip 403, stale_timestamp 400, unknown 404,
    replayed 409, unavailable 409, expired 410
"""
from __future__ import annotations

import ipaddress
import logging
import math
import uuid
from datetime import datetime, timezone as dt_timezone

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core import request_context
from apps.core.audit import record_audit
from apps.core.errors import Conflict, Forbidden, InvalidInput, ServiceError
from apps.rbac.permissions import can, restrict

from . import purposes, tokens
from .models import OneTimeToken, RedeemOutcome, TokenRedemption

logger = logging.getLogger(__name__)


class RedeemRefused(ServiceError):
    STATUS = {RedeemOutcome.INVALID: 400, RedeemOutcome.FORGED: 403, RedeemOutcome.WRONG_IP: 403,
              RedeemOutcome.STALE_TIMESTAMP: 400, RedeemOutcome.UNKNOWN: 404, RedeemOutcome.REPLAYED: 409,
              RedeemOutcome.UNAVAILABLE: 409, RedeemOutcome.EXPIRED: 410}

    def __init__(self, code: str, message: str, token_id=None):
        super().__init__(message)
        self.code = code
        self.status = self.STATUS.get(code, 400)
        self.token_id = token_id

    def as_dict(self) -> dict:
        return {"code": str(self.code), "detail": self.message}


# --- issue / list / revoke ------------------------------------------------------------------
def visible_tokens(user):
    return restrict(OneTimeToken.objects.all(), user, "view")


def issue_token(user, purpose: str, subject: str, ttl=None, bind_ip=None) -> tuple[OneTimeToken, str]:
    """Create a token; returns (row, token string). The string exists only in this return value."""
    handler, subject_key = purposes.check_issue(user, purpose, subject)
    ttl = settings.KEYVAULT_TOKEN_TTL if ttl is None else ttl
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= settings.KEYVAULT_TOKEN_MAX_TTL:
        raise InvalidInput({"ttl": [f"Must be a whole number of seconds from 1 to {settings.KEYVAULT_TOKEN_MAX_TTL}."]})
    if bind_ip:
        try:
            bind_ip = str(ipaddress.ip_address(bind_ip))
        except ValueError:
            raise InvalidInput({"bind_ip": ["Not an IP address."]}) from None
    expiry = int(timezone.now().timestamp()) + ttl
    claims = tokens.TokenClaims(id=str(uuid.uuid4()), purpose=handler.name, subject=subject_key,
                                nonce=tokens.new_nonce(), expiry=expiry)
    token = tokens.build(claims)
    with transaction.atomic():
        row = OneTimeToken.objects.create(
            id=uuid.UUID(claims.id), purpose=claims.purpose, subject=subject, subject_key=subject_key, token_hash=tokens.token_hash(token),
            token_prefix=tokens.token_prefix(token), bind_ip=bind_ip or None,
            created_by=user if user.is_authenticated else None,
            expires_at=datetime.fromtimestamp(expiry, tz=dt_timezone.utc))
        record_audit("keyvault.token.issue", actor=user, obj=row, after={
            "purpose": row.purpose, "subject": subject, "ttl": ttl, "bind_ip": row.bind_ip,
            "expires_at": row.expires_at.isoformat(), "prefix": row.token_prefix})
    return row, token


def revoke_token(user, token: OneTimeToken) -> OneTimeToken:
    if not can(user, token, "view"):
        raise Forbidden("You may not see this token.")
    if not can(user, token, "delete"):
        raise Forbidden("Only the token's creator or an operator with keyvault.delete_onetimetoken may revoke it.")
    now = timezone.now()
    with transaction.atomic():
        changed = OneTimeToken.objects.filter(pk=token.pk, revoked=False, consumed_at__isnull=True).update(
            revoked=True, revoked_at=now, revoked_by=user if user.is_authenticated else None)
        token.refresh_from_db()
        if not changed:
            raise Conflict(f"Token {token.token_prefix}… is already {token.status}; nothing to revoke.")
        record_audit("keyvault.token.revoke", actor=user, obj=token,
                     before={"status": "active"}, after={"status": "revoked"})
    return token


# --- redeem ------------------------------------------------------------------------------------
def _same_ip(remote: str | None, bound: str) -> bool:
    try:
        a, b = ipaddress.ip_address(remote or ""), ipaddress.ip_address(bound)
    except ValueError:
        return False
    a = getattr(a, "ipv4_mapped", None) or a
    b = getattr(b, "ipv4_mapped", None) or b
    return a == b


def _check_timestamp(timestamp, now: datetime) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)) or not math.isfinite(timestamp):
        raise RedeemRefused(RedeemOutcome.INVALID, "`timestamp` must be the current time in unix seconds.")
    skew = now.timestamp() - timestamp
    max_age = settings.KEYVAULT_REDEEM_MAX_AGE
    if skew > max_age:
        raise RedeemRefused(RedeemOutcome.STALE_TIMESTAMP,
                            f"The request timestamp is {skew:.0f} s old; at most {max_age} s is accepted.")
    if skew < -max_age:
        raise RedeemRefused(RedeemOutcome.STALE_TIMESTAMP,
                            f"The request timestamp is {-skew:.0f} s in the future; at most {max_age} s is accepted "
                            "(check the client's clock).")


def _why_not_consumed(row_id, now) -> RedeemRefused:
    row = OneTimeToken.objects.filter(pk=row_id).first()
    if row is None or row.revoked:
        return RedeemRefused(RedeemOutcome.UNKNOWN, "No such token (or it was revoked).", row_id if row else None)
    if row.consumed_at is not None:
        return RedeemRefused(RedeemOutcome.REPLAYED, "This token has already been used.", row_id)
    return RedeemRefused(RedeemOutcome.EXPIRED, "This token has expired.", row_id)


def _redeem(token, timestamp, ip) -> tuple[dict, OneTimeToken]:
    if not isinstance(token, str) or not token:
        raise RedeemRefused(RedeemOutcome.INVALID, "`token` is required.")
    try:
        claims = tokens.parse(token)
    except tokens.TokenForged as exc:
        raise RedeemRefused(RedeemOutcome.FORGED, f"Invalid token: {exc}.") from None
    try:
        token_id = uuid.UUID(claims.id)
    except ValueError:
        raise RedeemRefused(RedeemOutcome.UNKNOWN, "No such token.") from None
    now = timezone.now()
    if claims.expiry <= now.timestamp():
        raise RedeemRefused(RedeemOutcome.EXPIRED, "This token has expired.", token_id)
    digest = tokens.token_hash(token)
    row = OneTimeToken.objects.filter(pk=token_id, token_hash=digest, revoked=False).first()
    if row is None:
        raise RedeemRefused(RedeemOutcome.UNKNOWN, "No such token (or it was revoked).",
                            token_id if OneTimeToken.objects.filter(pk=token_id).exists() else None)
    if row.consumed_at is not None:
        raise RedeemRefused(RedeemOutcome.REPLAYED, "This token has already been used.", row.pk)
    if row.bind_ip and not _same_ip(ip, row.bind_ip):
        raise RedeemRefused(RedeemOutcome.WRONG_IP, "This token may not be redeemed from this address.", row.pk)
    _check_timestamp(timestamp, now)
    handler = purposes.get(row.purpose)
    if handler is None:
        raise RedeemRefused(RedeemOutcome.UNAVAILABLE, f"Purpose {row.purpose!r} is not handled here.", row.pk)
    with transaction.atomic():
        # The single point of truth: only one UPDATE can match consumed_at IS NULL.
        won = OneTimeToken.objects.filter(
            pk=row.pk, token_hash=digest, consumed_at__isnull=True, revoked=False, expires_at__gt=now,
        ).update(consumed_at=now, consumed_by_ip=ip)
        if won != 1:
            raise _why_not_consumed(row.pk, now)
        row.consumed_at, row.consumed_by_ip = now, ip
        try:
            delivered = handler.deliver(row)
        except ServiceError as exc:  # rolls the consumption back: the token stays usable
            code = getattr(exc, "code", RedeemOutcome.UNAVAILABLE)
            raise RedeemRefused(code if code in RedeemOutcome.values else RedeemOutcome.ERROR,
                                exc.message, row.pk) from None
        _log(row.pk, RedeemOutcome.OK, ip, "")
    return {"id": str(row.pk), "purpose": row.purpose, "subject": row.subject, **delivered}, row


def redeem(token, timestamp, ip=None) -> dict:
    """Redeem a token string; returns what its purpose delivers, or raises RedeemRefused."""
    ip = _valid_ip(ip)
    try:
        body, _row = _redeem(token, timestamp, ip)
    except RedeemRefused as exc:
        _log(exc.token_id, exc.code, ip, exc.message)
        logger.info("keyvault: token redemption refused (%s) from %s", exc.code, ip or "-")
        if exc.code == RedeemOutcome.ERROR:
            exc.status = 500
        raise
    logger.info("keyvault: token %s redeemed from %s", body["id"], ip or "-")
    return body


def _log(token_id, outcome: str, ip, detail: str) -> None:
    ctx = request_context.current()
    TokenRedemption.objects.create(token_id=token_id, outcome=str(outcome), ip=_valid_ip(ip),
                                   request_id=ctx.request_id, detail=(detail or "")[:300])


def _valid_ip(ip):
    try:
        return str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        return None
