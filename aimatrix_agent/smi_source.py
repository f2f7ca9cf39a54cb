"""The fallback when NVML is missing: run `nvidia-smi` (argv lists, a deadline each) and parse.

Inventory and samples come from `--query-gpu`; MIG devices from `-L` plus `-q -x` (only when a
GPU is in MIG mode); row-remap failures from `--query-remapped-rows` (drivers that lack it: None);
XID errors from the kernel log (`dmesg`), each line reported once (remembered in a state file).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess

from . import nvsmi

logger = logging.getLogger(__name__)
COMMAND_TIMEOUT = 20.0


class SmiUnavailable(RuntimeError):
    pass


def run(argv, timeout=COMMAND_TIMEOUT) -> str:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, argv, result.stdout, result.stderr)
    return result.stdout


class SmiSource:
    name = "nvidia-smi"

    def __init__(self, state_dir: str | None = None, xid_argv=("dmesg",), runner=run):
        self.runner = runner
        self.xid_argv = tuple(xid_argv) if xid_argv else ()
        self.state_path = os.path.join(state_dir, "xid-seen.json") if state_dir else None
        self._seen = self._load_seen()
        self._remap_supported = True
        self.cuda_version = None
        self._gpus: list[dict] = []

    def open(self) -> "SmiSource":
        if shutil.which("nvidia-smi") is None:
            raise SmiUnavailable("nvidia-smi is not on PATH")
        try:
            self.runner(nvsmi.LIST_GPUS_ARGV)
        except (OSError, subprocess.SubprocessError) as exc:
            raise SmiUnavailable(f"nvidia-smi does not answer: {_reason(exc)}") from None
        try:
            self.cuda_version = nvsmi.parse_version(self.runner(nvsmi.VERSION_ARGV))["cuda_version"]
        except (OSError, subprocess.SubprocessError):
            self.cuda_version = None  # older driver: read from -q -x when a MIG GPU makes us ask
        return self

    def close(self) -> None:
        pass

    def read(self, ts: str) -> tuple[list[dict], list[dict]]:
        gpus = nvsmi.parse_query_gpu(self.runner(nvsmi.QUERY_GPU_ARGV))
        self._gpus = gpus
        mig = {}
        cuda = self.cuda_version
        if any(g["mig_mode"] == "Enabled" for g in gpus):
            xml = nvsmi.parse_query_xml(self.runner(nvsmi.QUERY_XML_ARGV))
            cuda = cuda or xml["cuda_version"]
            mig = nvsmi.merge_mig(nvsmi.parse_list_gpus(self.runner(nvsmi.LIST_GPUS_ARGV)), xml)
        remapped = None
        if self._remap_supported:
            try:
                remapped = nvsmi.parse_remapped_rows(self.runner(nvsmi.REMAPPED_ROWS_ARGV))
            except (subprocess.CalledProcessError, nvsmi.NvsmiParseError) as exc:
                self._remap_supported = False  # old driver / consumer GPU: stop asking
                logger.info("nvidia-smi --query-remapped-rows unavailable (%s): row-remap state unknown", _reason(exc))
        return nvsmi.to_record_parts(gpus, ts, cuda_version=cuda, mig_devices=mig, remapped=remapped)

    # --- XID from the kernel log ---------------------------------------------------------
    def events(self, ts: str) -> list[dict]:
        if not self.xid_argv:
            return []
        try:
            text = self.runner(self.xid_argv)
        except (OSError, subprocess.SubprocessError) as exc:
            logger.debug("kernel log unreadable (%s): no XID events from nvidia-smi fallback", _reason(exc))
            return []
        fresh = []
        for entry in nvsmi.parse_xid_log(text):
            key = hashlib.sha256(entry["line"].encode()).hexdigest()[:24]
            if key in self._seen:
                continue
            self._seen.append(key)
            fresh.append(entry)
        if fresh:
            del self._seen[:-2000]
            self._save_seen()
        return nvsmi.xid_events(fresh, self._gpus, ts)

    def _load_seen(self) -> list[str]:
        if not self.state_path:
            return []
        try:
            with open(self.state_path, encoding="utf-8") as handle:
                return [str(k) for k in json.load(handle)][-2000:]
        except (OSError, ValueError):
            return []

    def _save_seen(self) -> None:
        if not self.state_path:
            return
        tmp = self.state_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self._seen, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.state_path)


def _reason(exc) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        detail = (exc.stderr or exc.stdout or "").strip().splitlines()
        return f"exit {exc.returncode}" + (f": {detail[0][:200]}" if detail else "")
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"no answer within {exc.timeout:.0f} s"
    return str(exc)
