"""GPU inventory, samples and XID events from NVML (nvidia-ml-py's `pynvml`).

`NvmlSource.open()` raises NvmlUnavailable when the library or the driver is missing, which
sends the agent to the nvidia-smi fallback. Every per-GPU read that this GPU does not support
gives None (NVMLError_NotSupported and friends), never 0.
"""
from __future__ import annotations

import logging

from .nvsmi import throttle_reasons

logger = logging.getLogger(__name__)


class NvmlUnavailable(RuntimeError):
    pass


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlSource:
    name = "nvml"

    def __init__(self):
        self.nvml = None
        self.event_set = None

    def open(self) -> "NvmlSource":
        try:
            import pynvml
        except ImportError as exc:
            raise NvmlUnavailable(f"nvidia-ml-py is not installed ({exc})") from None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise NvmlUnavailable(f"NVML could not start: {exc}") from None
        self.nvml = pynvml
        self._register_events()
        return self

    def close(self) -> None:
        if self.nvml is None:
            return
        try:
            if self.event_set is not None:
                self.nvml.nvmlEventSetFree(self.event_set)
            self.nvml.nvmlShutdown()
        except self.nvml.NVMLError:
            pass
        self.nvml = None

    # --- helpers -------------------------------------------------------------------------
    def _try(self, func, *args):
        try:
            return func(*args)
        except self.nvml.NVMLError:
            return None

    def _handles(self):
        count = self.nvml.nvmlDeviceGetCount()
        return [(i, self.nvml.nvmlDeviceGetHandleByIndex(i)) for i in range(count)]

    def _register_events(self) -> None:
        nvml = self.nvml
        try:
            self.event_set = nvml.nvmlEventSetCreate()
        except nvml.NVMLError as exc:
            logger.warning("NVML event set unavailable (%s): XID errors will not be reported", exc)
            return
        for index, handle in self._handles():
            try:
                supported = nvml.nvmlDeviceGetSupportedEventTypes(handle)
                wanted = supported & (nvml.nvmlEventTypeXidCriticalError | nvml.nvmlEventTypeDoubleBitEccError)
                if wanted:
                    nvml.nvmlDeviceRegisterEvents(handle, wanted, self.event_set)
            except nvml.NVMLError as exc:
                logger.warning("GPU %s: cannot register for XID events (%s)", index, exc)

    # --- reads ---------------------------------------------------------------------------
    def driver_versions(self) -> tuple[str | None, str | None]:
        nvml = self.nvml
        driver = self._try(nvml.nvmlSystemGetDriverVersion)
        cuda = self._try(nvml.nvmlSystemGetCudaDriverVersion)
        cuda_text = f"{cuda // 1000}.{(cuda % 1000) // 10}" if isinstance(cuda, int) else None
        return (_text(driver) if driver is not None else None), cuda_text

    def _mig_devices(self, handle) -> tuple[str | None, list[dict]]:
        nvml = self.nvml
        modes = self._try(nvml.nvmlDeviceGetMigMode, handle)
        if modes is None:
            return None, []
        current = modes[0]
        mode = "Enabled" if current == nvml.NVML_DEVICE_MIG_ENABLE else "Disabled"
        devices = []
        if mode == "Enabled":
            for slot in range(self._try(nvml.nvmlDeviceGetMaxMigDeviceCount, handle) or 0):
                mig = self._try(nvml.nvmlDeviceGetMigDeviceHandleByIndex, handle, slot)
                if mig is None:
                    continue
                memory = self._try(nvml.nvmlDeviceGetMemoryInfo, mig)
                attrs = self._try(nvml.nvmlDeviceGetAttributes, mig)
                profile = None
                if attrs is not None:
                    profile = f"{attrs.gpuInstanceSliceCount}g.{round(attrs.memorySizeMB / 1024)}gb"
                uuid = self._try(nvml.nvmlDeviceGetUUID, mig)
                devices.append({"gpu_instance": self._try(nvml.nvmlDeviceGetGpuInstanceId, mig),
                                "compute_instance": self._try(nvml.nvmlDeviceGetComputeInstanceId, mig),
                                "uuid": _text(uuid) if uuid is not None else None, "profile": profile,
                                "memory_total_mib": memory.total // (1024 * 1024) if memory else None})
        return mode, devices

    def _ecc(self, handle, kind) -> int | None:
        nvml = self.nvml
        return self._try(nvml.nvmlDeviceGetTotalEccErrors, handle, kind, nvml.NVML_VOLATILE_ECC)

    def _throttle(self, handle) -> list[str] | None:
        nvml = self.nvml
        getter = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            nvml.nvmlDeviceGetCurrentClocksThrottleReasons
        mask = self._try(getter, handle)
        return throttle_reasons(int(mask)) if mask is not None else None

    def read(self, ts: str) -> tuple[list[dict], list[dict]]:
        """(inventory, gpu_samples) now."""
        nvml = self.nvml
        driver, cuda = self.driver_versions()
        inventory, samples = [], []
        for index, handle in self._handles():
            uuid = _text(nvml.nvmlDeviceGetUUID(handle))
            name = self._try(nvml.nvmlDeviceGetName, handle)
            pci = self._try(nvml.nvmlDeviceGetPciInfo, handle)
            memory = self._try(nvml.nvmlDeviceGetMemoryInfo, handle)
            limit = self._try(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
            mode, migs = self._mig_devices(handle)
            inventory.append({
                "index": index, "uuid": uuid, "name": _text(name) if name is not None else None,
                "memory_total_mib": memory.total // (1024 * 1024) if memory else None,
                "driver_version": driver, "cuda_version": cuda,
                "pci_bus_id": _text(pci.busId) if pci is not None else None,
                "mig_mode": mode, "mig_devices": migs,
                "power_limit_w": limit / 1000.0 if limit is not None else None,
            })
            util = self._try(nvml.nvmlDeviceGetUtilizationRates, handle)  # NotSupported in MIG mode
            power = self._try(nvml.nvmlDeviceGetPowerUsage, handle)
            remap = self._try(nvml.nvmlDeviceGetRemappedRows, handle)
            samples.append({
                "uuid": uuid, "ts": ts,
                "utilization_pct": float(util.gpu) if util is not None else None,
                "memory_used_mib": memory.used // (1024 * 1024) if memory else None,
                "temperature_c": _float(self._try(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)),
                "power_w": power / 1000.0 if power is not None else None,
                "sm_clock_mhz": self._try(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM),
                "ecc_corrected": self._ecc(handle, nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED),
                "ecc_uncorrected": self._ecc(handle, nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
                "row_remap_failure": bool(remap[3]) if remap is not None else None,
                "throttle_reasons": self._throttle(handle),
            })
        return inventory, samples

    def events(self, ts: str, wait_ms: int = 0) -> list[dict]:
        """XID (and double-bit ECC) events NVML queued since the last call."""
        nvml = self.nvml
        if self.event_set is None:
            return []
        events = []
        while len(events) < 1000:
            try:
                data = nvml.nvmlEventSetWait(self.event_set, wait_ms)
            except nvml.NVMLError:  # NVML_ERROR_TIMEOUT: nothing (more) queued
                break
            wait_ms = 0
            uuid = self._try(nvml.nvmlDeviceGetUUID, data.device)
            if uuid is None:
                continue
            if data.eventType == nvml.nvmlEventTypeXidCriticalError:
                events.append({"uuid": _text(uuid), "ts": ts, "kind": "xid", "xid": int(data.eventData),
                               "message": f"Xid {int(data.eventData)} reported by NVML"})
            else:
                events.append({"uuid": _text(uuid), "ts": ts, "kind": "xid", "xid": 48,
                               "message": "double-bit ECC error reported by NVML"})
        return events


def _float(value):
    return float(value) if value is not None else None
