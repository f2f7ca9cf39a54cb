"""Encryption at rest: MultiFernet over settings.ENCRYPTION_KEYS (the first encrypts, all decrypt)
and an HMAC-SHA256 checksum of each plaintext under a key derived from the encryption key.

Every function reads settings.ENCRYPTION_KEYS on each call; the Fernet objects are cached per key
tuple, so a changed setting (override_settings, a rotated environment) takes effect at once.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_CHECKSUM_INFO = b"aimatrix keyvault checksum v1"


class DecryptionFailed(Exception):
    """The ciphertext is not readable with any configured key (wrong key, key removed, tampered)."""


class ChecksumMismatch(Exception):
    """The decrypted value does not match its stored checksum."""


def configured_keys() -> tuple[str, ...]:
    keys = getattr(settings, "ENCRYPTION_KEYS", None) or []
    if isinstance(keys, str):
        keys = [keys]
    return tuple(k.strip() for k in keys if k and k.strip())


def check_keys(keys=None) -> None:
    """Raise ImproperlyConfigured unless there is at least one key and every key is valid Fernet."""
    keys = configured_keys() if keys is None else tuple(keys)
    if not keys:
        raise ImproperlyConfigured(
            "The key vault has no encryption key: set AIMATRIX_ENCRYPTION_KEYS to one or more Fernet keys "
            "(comma separated, the first encrypts). Generate one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`.")
    for position, key in enumerate(keys, 1):
        try:
            Fernet(key.encode() if isinstance(key, str) else key)
        except (ValueError, TypeError):
            # Never print the key itself: only where it is in the list.
            raise ImproperlyConfigured(
                f"AIMATRIX_ENCRYPTION_KEYS entry {position} of {len(keys)} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes).") from None


@lru_cache(maxsize=8)
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, tuple[Fernet, ...], tuple[bytes, ...]]:
    check_keys(keys)
    singles = tuple(Fernet(k.encode()) for k in keys)
    checksum_keys = tuple(_derive_checksum_key(k) for k in keys)
    return MultiFernet(list(singles)), singles, checksum_keys


def _derive_checksum_key(key: str) -> bytes:
    raw = base64.urlsafe_b64decode(key.encode())
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CHECKSUM_INFO).derive(raw)


def _current():
    return _fernets(configured_keys())


def clear_cache(**kwargs) -> None:
    _fernets.cache_clear()


def encrypt(plaintext: str) -> str:
    """Encrypt with the first key; returns the Fernet token as text."""
    return _current()[0].encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(ciphertext: str) -> str:
    try:
        return _current()[0].decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError):
        raise DecryptionFailed("cannot be decrypted with any key in AIMATRIX_ENCRYPTION_KEYS") from None


def checksum(plaintext: str) -> str:
    """HMAC-SHA256 (hex) of the value under the checksum key of the first encryption key."""
    return _hmac(_current()[2][0], plaintext)


def verify_checksum(plaintext: str, expected: str) -> None:
    """Accept a checksum made under any configured key (rows not yet rotated); constant time."""
    for key in _current()[2]:
        if hmac.compare_digest(_hmac(key, plaintext), expected or ""):
            return
    raise ChecksumMismatch("the decrypted value does not match its stored checksum")


def decrypt_verified(ciphertext: str, expected_checksum: str) -> str:
    plaintext = decrypt(ciphertext)
    verify_checksum(plaintext, expected_checksum)
    return plaintext


def is_current(ciphertext: str) -> bool:
    """True when the first (encrypting) key reads this ciphertext."""
    try:
        _current()[1][0].decrypt(ciphertext.encode("ascii"))
    except (InvalidToken, ValueError):
        return False
    return True


def _hmac(key: bytes, plaintext: str) -> str:
    return hmac.new(key, plaintext.encode("utf-8"), hashlib.sha256).hexdigest()
