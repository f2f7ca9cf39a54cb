"""Agentless collection: nvidia-smi and /proc over the SSH layer, into the same ingest.

For each node: `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` (parsed by
aimatrix_agent.nvsmi, the agent's own parser) and /proc reads (aimatrix_agent.procfs), turned
into a telemetry record (docs/telemetry-record.md) and handed to `ingest(source="agentless")`.
Nodes are polled in parallel over pooled SSH connections (apps/nodes/ssh.py fan-out).

Rates (CPU use, network and disk throughput) are deltas between two polls: the previous
counters are kept in the cache, so the first poll of a node reports them as null, never 0.
XID errors need the kernel log (root); the agent reports them, agentless collection does not.
"""
from __future__ import annotations

import datetime as dt
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from aimatrix_agent import nvsmi, procfs
from apps.nodes import remote, ssh
from apps.nodes.models import Node, NodeState

from .ingest import ingest
from .models import Gpu

PROC_FILES = ("stat", "loadavg", "meminfo", "net/dev", "diskstats")
COMMAND_TIMEOUT = 20.0
COUNTERS_TTL = 3600


class CollectFailed(Exception):
    """A readable reason collection from one node failed."""


def agentless_nodes():
    """Nodes the beat task polls: reachable by SSH, in service, and without an agent that pushed
    recently (its GPUs' newest sample came from an agent within GPU_AGENT_FRESH_SECONDS)."""
    fresh = timezone.now() - dt.timedelta(seconds=settings.GPU_AGENT_FRESH_SECONDS)
    agent_alive = Gpu.objects.filter(node=OuterRef("pk"), last_sample_at__gte=fresh, last_sample__source="agent")
    return (Node.objects.select_related("ssh_credential").filter(ssh_credential__isnull=False)
            .exclude(state__in=[NodeState.RETIRED, NodeState.MAINTENANCE]).filter(~Exists(agent_alive)))


def _run(node: Node, argv, purpose: str, actor) -> str:
    result = remote.run_bounded(node, argv, timeout=COMMAND_TIMEOUT, purpose=purpose, actor=actor)
    if result.exit_status != 0:
        raise CollectFailed(f"{node.name}: {' '.join(argv[:1])} failed: {result.reason()}")
    return result.stdout


def _node_sample(node: Node, texts: dict, ts: str) -> dict:
    busy, total = procfs.parse_stat_cpu(texts["stat"])
    rx, tx = procfs.parse_net_dev(texts["net/dev"])
    read, written = procfs.parse_diskstats(texts["diskstats"])
    used, mem_total = procfs.parse_meminfo(texts["meminfo"])
    now = time.time()
    sample = {"ts": ts, "cpu_pct": None, "load1": procfs.parse_loadavg(texts["loadavg"]),
              "memory_used_bytes": used, "memory_total_bytes": mem_total, "net_rx_bps": None, "net_tx_bps": None,
              "disk_read_bps": None, "disk_write_bps": None}
    key = f"gpus:agentless:{node.pk}"
    last = cache.get(key)
    cache.set(key, (now, busy, total, rx, tx, read, written), COUNTERS_TTL)
    if last and 0 < now - last[0] <= 5 * settings.GPU_COLLECT_INTERVAL:  # an old reading: no honest rate
        t0, busy0, total0, rx0, tx0, read0, written0 = last
        elapsed = now - t0
        if total > total0:
            sample["cpu_pct"] = round(100.0 * (busy - busy0) / (total - total0), 2)
        if rx >= rx0 and tx >= tx0 and read >= read0 and written >= written0:  # no counter reset
            sample.update(net_rx_bps=(rx - rx0) / elapsed, net_tx_bps=(tx - tx0) / elapsed,
                          disk_read_bps=(read - read0) / elapsed, disk_write_bps=(written - written0) / elapsed)
    return sample


def build_record(node: Node, smi_csv: str, proc_texts: dict | None, collected_at: dt.datetime) -> dict:
    ts = collected_at.isoformat().replace("+00:00", "Z")
    gpus = nvsmi.parse_query_gpu(smi_csv)
    inventory, samples = nvsmi.to_record_parts(gpus, ts)
    for sample in samples:
        sample["throttle_reasons"] = sample["throttle_reasons"] or []
    record = {"version": 1, "source": "agentless", "collected_at": ts, "hostname": node.name,
              "inventory": inventory, "gpu_samples": samples, "node_samples": [], "events": []}
    if proc_texts:
        record["node_samples"] = [_node_sample(node, proc_texts, ts)]
    return record


def collect_node(node: Node, *, purpose: str, actor=None) -> dict:
    """Poll one node and store what it reported; the ingest result as a dict."""
    smi_csv = _run(node, nvsmi.QUERY_GPU_ARGV, purpose, actor)
    proc_texts = {name: _run(node, ("cat", f"/proc/{name}"), purpose, actor) for name in PROC_FILES}
    try:
        record = build_record(node, smi_csv, proc_texts, timezone.now())
    except (ValueError, KeyError, IndexError) as exc:
        raise CollectFailed(f"{node.name}: unreadable output: {exc}"[:300]) from None
    return ingest(node, record, source="agentless", actor=actor).as_dict()


def collect(nodes, *, purpose: str, actor=None, on_result=None) -> dict:
    """Poll nodes in parallel (settings.NODES_SSH_FANOUT at a time); on_result(node, ok, message, data)
    is called for each as it finishes. Returns counts."""
    done = failed = 0

    def in_thread(node):
        try:
            return collect_node(node, purpose=purpose, actor=actor)
        finally:
            connection.close()  # each fan-out thread has its own database connection

    for node, outcome in ssh.fan_out(list(nodes), in_thread, max_workers=settings.NODES_SSH_FANOUT):
        if isinstance(outcome, Exception):
            failed += 1
            message = str(outcome) if isinstance(outcome, (remote.NodeUnavailable, CollectFailed)) \
                else f"{node.name}: {type(outcome).__name__}: {outcome}"[:300]
            if on_result:
                on_result(node, False, message, {})
        else:
            done += 1
            if on_result:
                on_result(node, True, f"{outcome['gpus']} GPU(s), {outcome['gpu_samples']} sample(s)", outcome)
    return {"collected": done, "failed": failed}
