"""One error hierarchy for everything the Slurm client raises; messages are meant for people."""
from __future__ import annotations

STDERR_TAIL = 600  # characters of stderr quoted in a message


def tail(text: str, limit: int = STDERR_TAIL) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def _short(argv: list[str]) -> str:
    text = " ".join(a for a in argv[:3] if not a.startswith("--format") and len(a) < 60)
    return text if len(argv) <= 3 else text + " ..."


class SlurmError(Exception):
    """Base class: catch this to handle any Slurm failure."""


class InvalidName(SlurmError, ValueError):
    """A name, reason or option refused before anything was sent (the message names the field)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class TransportError(SlurmError):
    """The command could not be run at all (SSH unreachable, host key, credentials...)."""


class CommandTimeout(SlurmError):
    """The command outlived its timeout."""

    def __init__(self, argv: list[str], timeout: float):
        super().__init__(f"`{argv[0]}` did not finish within {timeout:g} s")
        self.argv, self.timeout = argv, timeout


class CommandFailed(SlurmError):
    """The command ran and exited non-zero; the message quotes the end of its stderr."""

    def __init__(self, argv: list[str], exit_status: int, stderr: str, stdout: str = ""):
        detail = tail(stderr) or tail(stdout) or "no output"
        super().__init__(f"`{_short(argv)}` failed (exit {exit_status}): {detail}")
        self.argv, self.exit_status, self.stderr, self.stdout = argv, exit_status, stderr, stdout


class CommandNotFound(CommandFailed):
    """The Slurm command is not installed (or not on PATH) on the host."""

    def __init__(self, argv: list[str], exit_status: int, stderr: str, stdout: str = ""):
        super().__init__(argv, exit_status, stderr, stdout)
        self.args = (f"`{argv[0]}` was not found on the host (is the Slurm client installed and on PATH?)",)


class NotFound(SlurmError):
    """The job, node, partition or record asked for does not exist."""


class PermissionDenied(CommandFailed):
    """Slurm refused the operation for this user (e.g. not an operator, not the job's owner)."""


class UnsupportedVersion(SlurmError):
    """The Slurm version is older than the client supports, or could not be read."""


class ParseError(SlurmError):
    """The output did not have the expected shape (the message quotes the offending part)."""
