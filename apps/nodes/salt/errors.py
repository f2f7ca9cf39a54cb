"""One hierarchy for every way a Salt call can fail; each message reads well in a job log."""
from __future__ import annotations


class SaltError(Exception):
    """Any failure talking to Salt (salt-api or the minions behind it)."""


class SaltUnreachable(SaltError):
    """salt-api did not accept the connection (address, port, TLS)."""


class SaltAuthFailed(SaltError):
    """salt-api refused the credentials (or a token it had issued)."""


class SaltTimeout(SaltError):
    """The call did not complete within its wall-clock deadline."""


class SaltApiError(SaltError):
    """salt-api answered, but not with a usable result (HTTP error, malformed body, failed wheel)."""


class SaltMinionNoAnswer(SaltError):
    """Targeted minions did not return in time (they may still be running the job)."""

    def __init__(self, message: str, minions: tuple[str, ...] = (), jid: str | None = None):
        super().__init__(message)
        self.minions, self.jid = tuple(minions), jid


class SaltKeyRefused(SaltError):
    """A key operation was refused before anything changed (unknown key, wrong state, fingerprint mismatch)."""


class SaltFunctionRefused(SaltError):
    """The function policy refused a call; nothing was sent. The portal audits this."""

    def __init__(self, message: str, *, role: str, client: str, fun: str, reason: str):
        super().__init__(message)
        self.role, self.client, self.fun, self.reason = role, client, fun, reason
