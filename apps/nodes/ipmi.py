"""IPMI BMC driver: ipmitool (lanplus) as a subprocess with an argv list.

The password reaches ipmitool through IPMI_PASSWORD in the child's environment (`-E`), never
on its command line (visible to every local user in ps). `-C 3` because cipher-suite discovery
stalls each call about 10 s on some BMCs; `-v` only so that stderr tells a rejected login from
a BMC that does not answer. Every call is bounded by ipmitool's own per-request timeout and
retries (-N/-R) and by a hard subprocess timeout, shortened to what is left of any deadline
already running (apps/core/deadline.py; e.g. the job's).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess

from apps.core import deadline as deadlines

from .bmc import BmcAuthFailed, BmcError, BmcTimeout, BmcUnreachable, BootDevice, PowerAction, PowerState

log = logging.getLogger(__name__)

_POWER = {PowerAction.ON: "on", PowerAction.OFF: "off", PowerAction.GRACEFUL_SHUTDOWN: "soft",
          PowerAction.RESET: "reset", PowerAction.CYCLE: "cycle"}
_BOOTDEV = {BootDevice.PXE: "pxe", BootDevice.DISK: "disk", BootDevice.CD: "cdrom"}
_SELECTOR = {"pxe": "pxe", "hard-drive": "disk", "hard drive": "disk", "cd/dvd": "cd", "no override": "none"}
_AUTH_ERRORS = ("RAKP 2 HMAC is invalid", "unauthorized name", "RAKP 2 message indicates an error",
                "insufficient resources for session", "Invalid user name", "privilege level")
_HEALTH_FAULTS = ("Power Overload", "Main Power Fault", "Power Control Fault", "Drive Fault", "Cooling/Fan Fault")


class IpmiClient:
    def __init__(self, host: str, username: str, password: str, *, port: int = 623, timeout: float = 20.0,
                 request_timeout: int = 2, retries: int = 1, cipher_suite: int = 3, ipmitool: str = "ipmitool"):
        if not host or host.startswith("-") or any(c.isspace() for c in host):
            raise ValueError("invalid IPMI host")
        self.host, self.port, self._username, self._password = host, int(port), username, password
        # -R 0 makes ipmitool 1.8.19 wait ~20 s for a dead BMC; -R 1 -N 1 gives up after 2 s.
        self.timeout, self.request_timeout, self.retries = timeout, request_timeout, max(1, retries)
        self.cipher_suite, self.ipmitool = cipher_suite, ipmitool

    def __repr__(self) -> str:
        return f"<IpmiClient {self.host}:{self.port}>"

    def _run(self, what: str, *args: str) -> str:
        argv = [self.ipmitool, "-I", "lanplus", "-C", str(self.cipher_suite), "-H", self.host, "-p", str(self.port),
                "-U", self._username, "-E", "-N", str(self.request_timeout), "-R", str(self.retries), "-v", *args]
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C", "LC_ALL": "C",
               "IPMI_PASSWORD": self._password}
        where = f"IPMI {self.host}:{self.port}"
        if shutil.which(self.ipmitool, path=env["PATH"]) is None:
            raise BmcError(f"{where}: {self.ipmitool} is not installed")
        left = deadlines.remaining(self.timeout)
        try:
            if left <= 0:
                raise subprocess.TimeoutExpired(argv, 0)
            proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=left)
        except subprocess.TimeoutExpired:
            passed = deadlines.expired()
            if passed is not None:
                raise BmcTimeout(f"{where}: {what}: {deadlines.reason(passed)}") from None
            raise BmcTimeout(f"{where}: no answer within {self.timeout:g}s ({what})") from None
        if proc.returncode == 0:
            return proc.stdout
        err = " ".join(line for line in proc.stderr.splitlines()
                       if line and not line.startswith(("Loading IANA", "Running Get VSO", "Discovered IPMB")))
        if any(marker in err for marker in _AUTH_ERRORS):
            raise BmcAuthFailed(f"{where}: authentication failed ({what})")
        if "Unable to establish" in err or "Get Auth Capabilities error" in err or "Address lookup" in err:
            raise BmcUnreachable(f"{where}: no IPMI session ({what}): {err[:200]}")
        raise BmcError(f"{where}: {what} failed: {err[:300] or proc.stdout[:300]}")

    def power_state(self) -> str:
        out = self._run("read power state", "chassis", "power", "status")
        match = re.search(r"Chassis Power is (on|off)", out)
        return match.group(1) if match else PowerState.UNKNOWN.value

    def power(self, action: PowerAction) -> None:
        action = PowerAction(action)
        verb = _POWER[action]
        if action is PowerAction.CYCLE and self.power_state() == PowerState.OFF:
            verb = "on"  # IPMI: a power cycle has no effect on a chassis that is off
        self._run(f"power {action.value}", "chassis", "power", verb)

    def set_boot_device(self, device: BootDevice, persistent: bool = False) -> None:
        device = BootDevice(device)
        extra = ["options=persistent"] if persistent else []
        self._run(f"set boot device {device.value}", "chassis", "bootdev", _BOOTDEV[device], *extra)

    def boot_device(self) -> dict:
        """{'device': 'pxe'|'disk'|'cd'|'none'|other, 'persistent': bool} from boot parameter 5."""
        out = self._run("read boot device", "chassis", "bootparam", "get", "5")
        selector = re.search(r"Boot Device Selector\s*:\s*(.+)", out)
        text = selector.group(1).strip().lower() if selector else ""
        device = next((name for marker, name in _SELECTOR.items() if marker in text), text or "unknown")
        return {"device": device, "persistent": "all future boots" in out}

    def health(self) -> dict:
        out = self._run("read chassis status", "chassis", "status")
        fields = dict((k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in out.splitlines()) if _)
        faults = [name for name in _HEALTH_FAULTS if fields.get(name) == "true"]
        power = fields.get("System Power", PowerState.UNKNOWN.value)
        return {"health": "warning" if faults else "ok", "power_state": power, "faults": faults}

    def thermal(self) -> list[dict]:
        """Temperature and fan sensors from the SDR (ipmitool -c: name,reading,units,status)."""
        readings = []
        for kind, sdr_type in (("temperature", "Temperature"), ("fan", "Fan")):
            for line in self._run(f"read {kind} sensors", "-c", "sdr", "type", sdr_type).splitlines():
                parts = line.split(",")
                if len(parts) < 4:
                    continue
                try:
                    reading = float(parts[1]) if parts[1] else None
                except ValueError:
                    reading = None
                units = {"degrees C": "Cel"}.get(parts[2], parts[2] or None)
                readings.append({"kind": kind, "name": parts[0], "reading": reading, "units": units,
                                 "health": {"ok": "ok", "ns": "unknown"}.get(parts[3], "warning")})
        return readings
