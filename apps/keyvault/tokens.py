"""One-time token strings: build, sign, parse and verify. No database access here.

Format: ``kv1.<nonce>.<payload>.<signature>``
- nonce: 22 url-safe characters (128 random bits), never stored;
- payload: url-safe base64 of compact JSON {"i": id, "p": purpose, "s": subject, "e": expiry};
- signature: url-safe base64 of HMAC-SHA256 over the canonical JSON list
  ["kv1", id, purpose, subject, nonce, expiry] with settings.TOKEN_SIGNING_KEY, or, when that is
  empty, a key derived from SECRET_KEY with HKDF.
The database keeps only SHA-256(token) and the first characters ("kv1." + 8 nonce characters).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

VERSION = "kv1"
PREFIX_LENGTH = len(VERSION) + 1 + 8
MAX_TOKEN_LENGTH = 2048


class TokenForged(Exception):
    """Malformed, tampered with, or signed with another key."""


@dataclass(frozen=True)
class TokenClaims:
    id: str
    purpose: str
    subject: str
    nonce: str
    expiry: int  # unix seconds


def signing_key() -> bytes:
    configured = getattr(settings, "TOKEN_SIGNING_KEY", "") or ""
    if configured:
        return configured.encode("utf-8")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"aimatrix keyvault one-time token signing v1").derive(settings.SECRET_KEY.encode("utf-8"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(claims: TokenClaims) -> bytes:
    message = json.dumps([VERSION, claims.id, claims.purpose, claims.subject, claims.nonce, claims.expiry],
                         separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return hmac.new(signing_key(), message, hashlib.sha256).digest()


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def build(claims: TokenClaims) -> str:
    payload = json.dumps({"i": claims.id, "p": claims.purpose, "s": claims.subject, "e": claims.expiry},
                         separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return f"{VERSION}.{claims.nonce}.{_b64(payload)}.{_b64(_signature(claims))}"


def parse(token: str) -> TokenClaims:
    """Return the claims of a well-formed token whose signature is ours; raise TokenForged otherwise."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise TokenForged("not a token")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        raise TokenForged("not a token of this server (expected kv1.<nonce>.<payload>.<signature>)")
    _, nonce, payload_b64, signature_b64 = parts
    try:
        payload = json.loads(_unb64(payload_b64))
        signature = _unb64(signature_b64)
        claims = TokenClaims(id=payload["i"], purpose=payload["p"], subject=payload["s"], nonce=nonce,
                             expiry=payload["e"])
    except (ValueError, binascii.Error, KeyError, TypeError):
        raise TokenForged("the token is malformed") from None
    if not (isinstance(claims.id, str) and isinstance(claims.purpose, str) and isinstance(claims.subject, str)
            and type(claims.expiry) is int):
        raise TokenForged("the token is malformed")
    if not hmac.compare_digest(_signature(claims), signature):
        raise TokenForged("the token's signature does not match")
    return claims


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_prefix(token: str) -> str:
    return token[:PREFIX_LENGTH]
