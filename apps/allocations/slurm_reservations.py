"""Create, update and delete the Slurm reservation of an allocation (no Django: an SshSlurm in,
plain values out), through `SshSlurm.command` with every value validated first.

Slurm 22.05 reserves nodes, not single GPUs: `TRES=` of a reservation accepts only CPU, Node,
License and BB (scontrol(1)), so an allocation's reservation covers the whole nodes its GPUs are
on. Flags: OVERLAP (two allocations holding different GPUs of one node each get their
reservation) and IGNORE_JOBS (jobs already running on the node do not block it); never MAINT.
Times are given in UTC (`env TZ=UTC`: scontrol reads times in its own time zone).
"""
from __future__ import annotations

import datetime as dt
import re

from apps.clusters.slurm import NotFound, SshSlurm, validate
from apps.clusters.slurm.errors import CommandFailed, InvalidName

NAME_PREFIX = "aimx-alloc-"
_NAME = re.compile(r"^aimx-alloc-\d{1,12}$")
FLAGS = "OVERLAP,IGNORE_JOBS"


def reservation_name(allocation_id: int) -> str:
    return check_name(f"{NAME_PREFIX}{int(allocation_id)}")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidName("reservation", f"{str(name)[:60]!r} is not a portal reservation name ({NAME_PREFIX}<id>)")
    return name


def _time(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("reservation times must be aware datetimes")
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _scontrol(*args: str) -> list[str]:
    return ["env", "TZ=UTC", "scontrol", *args]


def create(slurm: SshSlurm, name: str, *, nodes: list[str], end: dt.datetime, accounts: list[str],
           users: list[str], start: dt.datetime | None = None) -> None:
    """`scontrol create reservation` from `start` (None: now) to `end` on `nodes`."""
    argv = _scontrol("create", "reservation", f"ReservationName={check_name(name)}",
                     f"Nodes={validate.node_list(list(nodes))}",
                     f"StartTime={_time(start) if start else 'now'}", f"EndTime={_time(end)}", f"Flags={FLAGS}")
    if accounts:
        argv.append("Accounts=" + ",".join(validate.account_name(a, "accounts") for a in accounts))
    if users:
        argv.append("Users=" + ",".join(validate.user_name(u, "users") for u in users))
    if not accounts and not users:
        raise InvalidName("accounts", "a reservation needs a Slurm account or users: map the project to an account")
    slurm.command(argv)


def update_end(slurm: SshSlurm, name: str, end: dt.datetime) -> None:
    slurm.command(_scontrol("update", f"ReservationName={check_name(name)}", f"EndTime={_time(end)}"))


def delete(slurm: SshSlurm, name: str) -> bool:
    """Delete it; False when it was already gone (ended by Slurm at its EndTime, or by hand)."""
    try:
        slurm.command(_scontrol("delete", f"ReservationName={check_name(name)}"))
    except NotFound:
        return False
    except CommandFailed as exc:
        # "Requested reservation is invalid": it does not exist (any more).
        if "reservation is invalid" in f"{exc.stderr}\n{exc.stdout}".lower():
            return False
        raise
    return True


def find(slurm: SshSlurm, name: str):
    """The Reservation record named `name`, or None."""
    check_name(name)
    return next((r for r in slurm.reservations() if r.name == name), None)
