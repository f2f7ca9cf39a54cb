"""Node metrics from /proc: CPU, load, memory, network and disk throughput.

Throughput and CPU use are deltas between two reads, so `NodeSampler.sample()` returns None
for every rate on its first call (unknown is null, never 0). The readers take the file text, so
tests can feed them any machine's /proc; `NodeSampler` reads the real files.
"""
from __future__ import annotations

import os
import re
import time

SECTOR_BYTES = 512  # /proc/diskstats counts 512-byte sectors whatever the device's sector size
# Virtual interfaces and partitions would double-count traffic and I/O.
_SKIP_NET = re.compile(r"^(lo|veth.*|docker.*|br-.*|virbr.*|cni.*|flannel.*|cali.*|tun.*|tap.*)$")
_WHOLE_DISK = re.compile(r"^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+|nvme\d+n\d+|mmcblk\d+|md\d+)$")


def parse_stat_cpu(text: str) -> tuple[int, int]:
    """/proc/stat -> (busy jiffies, total jiffies) of the aggregate `cpu` line."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            values = [int(v) for v in line.split()[1:]]
            # user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
            values = values[:8]
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            total = sum(values)
            return total - idle, total
    raise ValueError("no aggregate cpu line in /proc/stat")


def parse_loadavg(text: str) -> float:
    return float(text.split()[0])


def parse_meminfo(text: str) -> tuple[int, int]:
    """/proc/meminfo -> (used bytes, total bytes); used = total - MemAvailable."""
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            values[name] = int(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
    total = values["MemTotal"]
    available = values.get("MemAvailable", values.get("MemFree", 0) + values.get("Cached", 0))
    return total - available, total


def parse_net_dev(text: str) -> tuple[int, int]:
    """/proc/net/dev -> (rx bytes, tx bytes) summed over physical-looking interfaces."""
    rx = tx = 0
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        name = name.strip()
        if not rest or _SKIP_NET.match(name):
            continue
        fields = rest.split()
        rx += int(fields[0])
        tx += int(fields[8])
    return rx, tx


def parse_diskstats(text: str) -> tuple[int, int]:
    """/proc/diskstats -> (read bytes, written bytes) summed over whole disks."""
    read = written = 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10 or not _WHOLE_DISK.match(fields[2]):
            continue
        read += int(fields[5]) * SECTOR_BYTES
        written += int(fields[9]) * SECTOR_BYTES
    return read, written


def _read(root: str, name: str) -> str:
    with open(os.path.join(root, name), encoding="ascii", errors="replace") as handle:
        return handle.read()


class NodeSampler:
    """Reads /proc (or another root, for tests) and returns node_samples entries."""

    def __init__(self, root: str = "/proc", clock=time.monotonic):
        self.root = root
        self.clock = clock
        self._last = None  # (t, cpu busy, cpu total, rx, tx, read, written)

    def sample(self, ts: str) -> dict:
        now = self.clock()
        busy, total = parse_stat_cpu(_read(self.root, "stat"))
        rx, tx = parse_net_dev(_read(self.root, "net/dev"))
        read, written = parse_diskstats(_read(self.root, "diskstats"))
        used, mem_total = parse_meminfo(_read(self.root, "meminfo"))
        record = {"ts": ts, "cpu_pct": None, "load1": parse_loadavg(_read(self.root, "loadavg")),
                  "memory_used_bytes": used, "memory_total_bytes": mem_total,
                  "net_rx_bps": None, "net_tx_bps": None, "disk_read_bps": None, "disk_write_bps": None}
        if self._last is not None:
            t0, busy0, total0, rx0, tx0, read0, written0 = self._last
            elapsed = now - t0
            if total > total0:
                record["cpu_pct"] = round(100.0 * (busy - busy0) / (total - total0), 2)
            if elapsed > 0:
                # A counter that went backwards (wrap, interface gone) gives no rate rather than a negative one.
                def rate(new, old):
                    return round((new - old) / elapsed, 1) if new >= old else None
                record.update(net_rx_bps=rate(rx, rx0), net_tx_bps=rate(tx, tx0),
                              disk_read_bps=rate(read, read0), disk_write_bps=rate(written, written0))
        self._last = (now, busy, total, rx, tx, read, written)
        return record
