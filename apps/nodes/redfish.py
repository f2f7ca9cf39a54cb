"""Redfish BMC driver (sushy): power, boot device, health, thermal readings.

Basic auth (sushy's default session auth logs a SessionService error first), no server-side
retries (sushy's defaults turn each HTTP 500 into a 30 s wait). Each operation has one wall-clock
deadline (`timeout`, shortened by any deadline already running, e.g. the job's): the session's
requests run under apps/core/deadline_http, which cuts the connection when it passes, so a BMC
that trickles its answer cannot hold a worker. One client per BMC and per thread (it keeps one
HTTP session).
"""
from __future__ import annotations

import contextlib
import logging
from urllib.parse import quote, urlsplit

import sushy
from sushy import connector as sushy_connector
from sushy import exceptions as sushy_exc

from apps.core import deadline as deadlines
from apps.core import deadline_http

from .bmc import (BmcAuthFailed, BmcError, BmcTimeout, BmcUnreachable, BootDevice, PowerAction, PowerState,
                  wait_for_power)

log = logging.getLogger(__name__)

_RESET = {PowerAction.ON: sushy.ResetType.ON, PowerAction.OFF: sushy.ResetType.FORCE_OFF,
          PowerAction.GRACEFUL_SHUTDOWN: sushy.ResetType.GRACEFUL_SHUTDOWN,
          PowerAction.RESET: sushy.ResetType.FORCE_RESTART}
_BOOT = {BootDevice.PXE: sushy.BootSource.PXE, BootDevice.DISK: sushy.BootSource.HDD,
         BootDevice.CD: sushy.BootSource.CD}
_STATES = {sushy.PowerState.ON: PowerState.ON, sushy.PowerState.OFF: PowerState.OFF,
           sushy.PowerState.POWERING_ON: PowerState.POWERING_ON,
           sushy.PowerState.POWERING_OFF: PowerState.POWERING_OFF}


class RedfishClient:
    def __init__(self, url: str, username: str, password: str, *, system_id: str = "", verify: bool | str = True,
                 timeout: float = 10.0, cycle_timeout: float = 120.0, poll_interval: float = 1.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            raise ValueError("Redfish address must be http(s)://host[:port] without credentials")
        self.url = url.rstrip("/")
        self._username, self._password = username, password
        self.system_id, self.verify, self.timeout = system_id, verify, timeout
        self.cycle_timeout, self.poll_interval = cycle_timeout, poll_interval
        self._root: sushy.Sushy | None = None
        self._system_path: str | None = None

    def __repr__(self) -> str:
        return f"<RedfishClient {self.url} system={self.system_id or '(only)'}>"

    @contextlib.contextmanager
    def _errors(self, what: str):
        with deadlines.within(self.timeout, f"Redfish {self.url}: {what}") as own:
            try:
                yield
            except BmcError:
                raise
            except Exception as exc:
                passed = deadlines.expired()
                if passed is not None:  # the cut connection is the symptom; the deadline is the reason
                    raise BmcTimeout(f"Redfish {self.url}: {what}: {deadlines.reason(passed, own)}") from None
                translated = self._translate(exc, what)
                if translated is None:
                    raise
                raise translated from None

    def _translate(self, exc: Exception, what: str) -> BmcError | None:
        if isinstance(exc, sushy_exc.AccessError):
            denied = "not permitted" if exc.status_code == 403 else "authentication failed"
            return BmcAuthFailed(f"Redfish {self.url}: {what}: {denied} (HTTP {exc.status_code})")
        if isinstance(exc, sushy_exc.ConnectionError):
            return BmcUnreachable(f"Redfish {self.url} unreachable ({what}): {_reason(exc)}")
        if isinstance(exc, sushy_exc.HTTPError):
            # Status code and a fixed message only: a BMC's (or an impostor's) body never reaches
            # job errors or poll errors that other people read.
            return BmcError(f"Redfish {self.url}: {what} failed (HTTP {exc.status_code})")
        if isinstance(exc, sushy_exc.SushyError):
            return BmcError(f"Redfish {self.url}: {what} failed ({type(exc).__name__})")
        if isinstance(exc, (ValueError, KeyError, TypeError, AttributeError)):  # a body that is no Redfish
            return BmcError(f"Redfish {self.url}: {what} failed (invalid response: {type(exc).__name__})")
        return None

    def _system(self, what: str):
        """The system resource, freshly read (one GET; the first call also finds its path)."""
        with self._errors(what):
            if self._root is None:
                connector = sushy_connector.Connector(
                    self.url, verify=self.verify,
                    server_side_retries=1, server_side_retries_delay=0.5,  # 1: connection errors fail at once
                    default_request_timeout=self.timeout, connect_timeout=self.timeout)
                deadline_http.mount(connector._session)  # sushy offers no other way to reach its session
                self._root = sushy.Sushy(self.url, auth=sushy.auth.BasicAuth(self._username, self._password),
                                         connector=connector)
            if self._system_path is None:
                if self.system_id.startswith("/"):
                    self._system_path = self.system_id
                elif self.system_id:
                    self._system_path = f"{self._root.get_system_collection().path}/{quote(self.system_id)}"
                else:
                    self._system_path = self._root.get_system().path  # fails unless exactly one
            return self._root.get_system(self._system_path)

    def power_state(self) -> str:
        system = self._system("read power state")
        return _STATES.get(system.power_state, PowerState.UNKNOWN).value

    def power(self, action: PowerAction) -> None:
        action = PowerAction(action)
        system = self._system(f"power {action.value}")
        with self._errors(f"power {action.value}"):
            if action is not PowerAction.CYCLE:
                system.reset_system(_RESET[action])
                return
            if sushy.ResetType.POWER_CYCLE in system.get_allowed_reset_system_values():
                system.reset_system(sushy.ResetType.POWER_CYCLE)
                return
            if _STATES.get(system.power_state) is not PowerState.OFF:  # no PowerCycle: off, wait, on
                system.reset_system(sushy.ResetType.FORCE_OFF)
        wait_for_power(self, PowerState.OFF, self.cycle_timeout, self.poll_interval)
        system = self._system("power cycle (on)")
        with self._errors("power cycle (on)"):
            system.reset_system(sushy.ResetType.ON)

    def set_boot_device(self, device: BootDevice, persistent: bool = False) -> None:
        device = BootDevice(device)
        system = self._system(f"set boot device {device.value}")
        enabled = sushy.BootSourceOverrideEnabled.CONTINUOUS if persistent else sushy.BootSourceOverrideEnabled.ONCE
        with self._errors(f"set boot device {device.value}"):
            system.set_system_boot_options(target=_BOOT[device], enabled=enabled)

    def boot_device(self) -> dict:
        """The boot override as the BMC reports it: {'device': 'pxe'|'disk'|'cd'|other, 'persistent': bool}."""
        boot = self._system("read boot device").boot
        names = {v: k.value for k, v in _BOOT.items()}
        target = boot.target if boot else None
        return {"device": names.get(target, target.value.lower() if target else "none"),
                "persistent": bool(boot and boot.enabled == sushy.BootSourceOverrideEnabled.CONTINUOUS)}

    def health(self) -> dict:
        system = self._system("read health")
        status = system.status
        return {"health": _lower(status.health if status else None), "state": _lower(status.state if status else None),
                "power_state": _STATES.get(system.power_state, PowerState.UNKNOWN).value}

    def thermal(self) -> list[dict]:
        """Temperatures and fans of the system's chassis; what a BMC lacks is skipped."""
        system, readings = self._system("read thermal"), []
        with self._errors("read thermal"):
            try:
                chassis_list = system.chassis
            except sushy_exc.MissingAttributeError:
                return []
            for chassis in chassis_list:
                try:
                    thermal = chassis.thermal
                    temps, fans = thermal.temperatures or [], thermal.fans or []
                except (sushy_exc.MissingAttributeError, sushy_exc.ResourceNotFoundError,
                        sushy_exc.ServerSideError, sushy_exc.BadRequestError) as exc:
                    log.debug("redfish %s: no thermal data for chassis %s: %s", self.url, chassis.path, exc)
                    continue
                for t in temps:
                    readings.append({"kind": "temperature", "name": t.name, "reading": t.reading_celsius,
                                     "units": "Cel", "health": _lower(t.status.health if t.status else None),
                                     "upper_critical": t.upper_threshold_critical})
                for f in fans:
                    readings.append({"kind": "fan", "name": f.name, "reading": f.reading,
                                     "units": f.reading_units.value if f.reading_units else None,
                                     "health": _lower(f.status.health if f.status else None)})
        return readings


def _lower(value) -> str:
    if value is None:
        return "unknown"
    return str(getattr(value, "value", value)).lower()


def _reason(exc: Exception) -> str:
    """The innermost cause, short (requests' messages repeat the whole URL and pool state)."""
    text = str(exc)
    for marker in ("Connection refused", "timed out", "Name or service not known", "No route to host",
                   "certificate verify failed", "Connection reset"):
        if marker in text:
            return marker
    return text[:200]
