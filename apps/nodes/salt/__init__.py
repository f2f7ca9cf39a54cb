"""SaltStack through salt-api (rest_cherrypy): a client with a function policy. No Django imports:
clients take plain values and return plain results (DESIGN.md), so the node agent and tests use
them alone. See client.py (SaltApi), policy.py (SaltPolicy), results.py, errors.py."""
from .client import SaltApi, Submitted, check_minion_id
from .errors import (SaltApiError, SaltAuthFailed, SaltError, SaltFunctionRefused, SaltKeyRefused,
                     SaltMinionNoAnswer, SaltTimeout, SaltUnreachable)
from .policy import DEFAULT_DENY, DEFAULT_ROLES, SaltClientKind, SaltPolicy, SaltRole
from .results import (HardwareSummary, Job, JobSummary, KeyState, MinionKey, MinionReturn, RunResult,
                      key_fingerprint, pem_body_fingerprint)

__all__ = [
    "DEFAULT_DENY", "DEFAULT_ROLES", "HardwareSummary", "Job", "JobSummary", "KeyState", "MinionKey",
    "MinionReturn", "RunResult", "SaltApi", "SaltApiError", "SaltAuthFailed", "SaltClientKind", "SaltError",
    "SaltFunctionRefused", "SaltKeyRefused", "SaltMinionNoAnswer", "SaltPolicy", "SaltRole", "SaltTimeout",
    "SaltUnreachable", "Submitted", "check_minion_id", "key_fingerprint", "pem_body_fingerprint",
]
