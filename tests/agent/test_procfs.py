"""The /proc readers, on this machine's real /proc."""
from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

from aimatrix_agent import procfs


def test_readers_on_this_machine():
    busy, total = procfs.parse_stat_cpu(Path("/proc/stat").read_text())
    assert 0 < busy < total
    used, mem_total = procfs.parse_meminfo(Path("/proc/meminfo").read_text())
    assert 0 < used < mem_total
    assert procfs.parse_loadavg(Path("/proc/loadavg").read_text()) >= 0
    rx, tx = procfs.parse_net_dev(Path("/proc/net/dev").read_text())
    assert rx >= 0 and tx >= 0
    read, written = procfs.parse_diskstats(Path("/proc/diskstats").read_text())
    assert read >= 0 and written >= 0


def test_sampler_rates_are_deltas_between_two_reads(tmp_path):
    sampler = procfs.NodeSampler()
    first = sampler.sample("2026-11-30T08:00:00Z")
    # Unknown on the first read (no previous counters): null, never 0.
    assert first["cpu_pct"] is None and first["net_rx_bps"] is None and first["disk_write_bps"] is None
    assert first["memory_total_bytes"] > first["memory_used_bytes"] > 0
    # Make some CPU work and disk writes between the reads.
    data = b"x" * (1 << 20)
    for _ in itertools.repeat(None, 30):
        hashlib.sha256(data).digest()
    (tmp_path / "f").write_bytes(data)
    second = sampler.sample("2026-11-30T08:00:05Z")
    assert 0 <= second["cpu_pct"] <= 100
    for key in ("net_rx_bps", "net_tx_bps", "disk_read_bps", "disk_write_bps"):
        assert second[key] is not None and second[key] >= 0


def test_sampler_on_another_machines_proc(tmp_path):
    """Counters from files: skips virtual interfaces and partitions, rates over the clock's delta."""
    root = tmp_path / "proc"
    (root / "net").mkdir(parents=True)
    clock = iter([100.0, 110.0])

    def write(cpu, idle, rx, sectors):
        (root / "stat").write_text(f"cpu  {cpu} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 1 1 1\n")
        (root / "loadavg").write_text("12.50 10.00 8.00 3/900 12345\n")
        (root / "meminfo").write_text("MemTotal:       16000000 kB\nMemFree:  1000 kB\nMemAvailable:    4000000 kB\n")
        (root / "net" / "dev").write_text(
            "Inter-|   Receive |  Transmit\n face |bytes packets ...\n"
            f"  eth0: {rx} 10 0 0 0 0 0 0 {rx // 2} 5 0 0 0 0 0 0\n"
            f"    lo: 999999 10 0 0 0 0 0 0 999999 5 0 0 0 0 0 0\n"
            f"vethab12: 999999 10 0 0 0 0 0 0 999999 5 0 0 0 0 0 0\n")
        (root / "diskstats").write_text(
            f"   8       0 sda 100 0 {sectors} 0 50 0 {sectors * 2} 0 0 0 0\n"
            f"   8       1 sda1 100 0 {sectors} 0 50 0 {sectors * 2} 0 0 0 0\n")

    sampler = procfs.NodeSampler(str(root), clock=lambda: next(clock))
    write(cpu=100, idle=900, rx=1_000, sectors=0)
    first = sampler.sample("t0")
    assert first["load1"] == 12.5 and first["memory_used_bytes"] == 12_000_000 * 1024
    write(cpu=600, idle=1400, rx=101_000, sectors=20)
    second = sampler.sample("t1")
    assert second["cpu_pct"] == 50.0  # 500 busy of the 1,000 jiffies between the reads
    assert second["net_rx_bps"] == 10_000.0 and second["net_tx_bps"] == 5_000.0  # eth0 only
    assert second["disk_read_bps"] == 20 * 512 / 10 and second["disk_write_bps"] == 40 * 512 / 10  # sda only
