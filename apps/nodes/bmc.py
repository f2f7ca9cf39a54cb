"""What every BMC driver offers (Redfish in redfish.py, IPMI in ipmi.py), and polling until a
requested power state is reached. Plain values only: services loads the credential."""
from __future__ import annotations

import enum
import time
from typing import Protocol, runtime_checkable

from apps.core import deadline as deadlines


class BmcError(Exception):
    """The BMC refused or failed the request (the message says which BMC and what)."""


class BmcAuthFailed(BmcError):
    """Wrong username or password (HTTP 401 / IPMI session refused)."""


class BmcUnreachable(BmcError):
    """No answer: refused, timed out, unresolvable."""


class BmcTimeout(BmcUnreachable):
    """The BMC did not finish answering before a deadline (its own, or the job's: the message says)."""


class PowerTimeout(BmcError):
    def __init__(self, desired: str, last_state: str | None, waited: float, last_error: str = ""):
        seen = f"last seen '{last_state}'" if last_state else "never read"
        tail = f"; last error: {last_error}" if last_error else ""
        super().__init__(f"power state did not become '{desired}' within {waited:.1f}s ({seen}{tail})")
        self.desired, self.last_state, self.waited = desired, last_state, waited


class PowerAction(str, enum.Enum):
    ON = "on"
    OFF = "off"  # forced, immediate
    GRACEFUL_SHUTDOWN = "graceful-shutdown"  # ACPI request; the OS may ignore it
    RESET = "reset"  # forced restart, power stays on
    CYCLE = "cycle"  # off, then on again


class BootDevice(str, enum.Enum):
    PXE = "pxe"
    DISK = "disk"
    CD = "cd"


class PowerState(str, enum.Enum):
    ON = "on"
    OFF = "off"
    POWERING_ON = "powering-on"
    POWERING_OFF = "powering-off"
    UNKNOWN = "unknown"


# The state an action settles in (what wait_for_power should wait for after it).
SETTLES_IN = {PowerAction.ON: PowerState.ON, PowerAction.OFF: PowerState.OFF,
              PowerAction.GRACEFUL_SHUTDOWN: PowerState.OFF, PowerAction.RESET: PowerState.ON,
              PowerAction.CYCLE: PowerState.ON}


@runtime_checkable
class BmcClient(Protocol):
    def power_state(self) -> str:
        """'on', 'off', 'powering-on', 'powering-off' or 'unknown'."""

    def power(self, action: PowerAction) -> None:
        """Request the action; returns once the BMC accepted it (poll with wait_for_power)."""

    def set_boot_device(self, device: BootDevice, persistent: bool = False) -> None:
        """Boot from device next time (persistent=False) or from now on."""

    def health(self) -> dict:
        """{'health': 'ok'|'warning'|'critical'|'unknown', 'power_state': ..., ...driver details}."""

    def thermal(self) -> list[dict]:
        """[{'kind': 'temperature'|'fan', 'name', 'reading', 'units', 'health'}], [] when not offered."""


def wait_for_power(client: BmcClient, desired: str, deadline_s: float, poll_interval: float = 1.0,
                   *, clock=time.monotonic, sleep=time.sleep) -> float:
    """Poll until the power state is `desired`; return the seconds it took. An unreachable BMC
    while polling (some reset themselves) is retried until the deadline; other errors propagate,
    and so does any error once an enclosing deadline (e.g. the job's) has passed."""
    desired = PowerState(desired).value
    start = clock()
    last_state, last_error = None, ""
    while True:
        try:
            last_state = client.power_state()
            if last_state == desired:
                return clock() - start
        except BmcUnreachable as exc:
            if deadlines.expired() is not None:
                raise
            last_error = str(exc)
        remaining = min(deadline_s - (clock() - start), deadlines.remaining(deadline_s))
        if remaining <= 0:
            raise PowerTimeout(desired, last_state, clock() - start, last_error)
        sleep(min(poll_interval, remaining))  # the last poll lands on the deadline


def make_client(driver: str, *, address: str, username: str, password: str, port: int | None = None,
                system_id: str = "", verify_tls: bool = True, timeout: float = 10.0) -> BmcClient:
    """The client for a Bmc row's values ('redfish' or 'ipmi')."""
    if driver == "redfish":
        from .redfish import RedfishClient
        return RedfishClient(address, username, password, system_id=system_id, verify=verify_tls, timeout=timeout)
    if driver == "ipmi":
        from .ipmi import IpmiClient
        return IpmiClient(address, username, password, port=port or 623, timeout=timeout)
    raise ValueError(f"unknown BMC driver {driver!r}")
