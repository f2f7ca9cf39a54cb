"""The GPUs' figures for /metrics, read from the database at scrape time (registered with core's
metrics in GpusConfig.ready()).

Per-GPU gauges carry dcgm-exporter's names and label names (`gpu`, `UUID`, `device`, `modelName`,
`Hostname`), so Grafana dashboards made for dcgm-exporter (e.g. NVIDIA's "DCGM Exporter Dashboard")
work on the portal's /metrics unchanged. Values are each GPU's newest sample (`Gpu.last_sample`,
kept by the ingest), read in one query whatever the fleet's size and written as text directly
(render_gpu_gauges). A GPU whose newest sample is older than STALE_AFTER is left out, as
dcgm-exporter stops exporting a GPU it no longer reads. Labels are bounded by the inventory (one
series per GPU and metric): no job, sample or event ids.
"""
from __future__ import annotations

import datetime as dt

from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from .models import Gpu, GpuHealth

STALE_AFTER = dt.timedelta(minutes=5)  # 10 of the agent's 30 s intervals
LABELS = ["gpu", "UUID", "device", "modelName", "Hostname"]

# dcgm-exporter's field name -> (help text as dcgm-exporter's default-counters.csv has it, how to
# read the value from the newest sample and the GPU's total memory)
GAUGES = {
    "DCGM_FI_DEV_GPU_UTIL": ("GPU utilization (in %).", lambda s, total: s.get("utilization_pct")),
    "DCGM_FI_DEV_GPU_TEMP": ("GPU temperature (in C).", lambda s, total: s.get("temperature_c")),
    "DCGM_FI_DEV_POWER_USAGE": ("Power draw (in W).", lambda s, total: s.get("power_w")),
    "DCGM_FI_DEV_SM_CLOCK": ("SM clock frequency (in MHz).", lambda s, total: s.get("sm_clock_mhz")),
    "DCGM_FI_DEV_FB_USED": ("Framebuffer memory used (in MiB).", lambda s, total: s.get("memory_used_mib")),
    "DCGM_FI_DEV_FB_FREE": ("Framebuffer memory free (in MiB).",
                            lambda s, total: None if total is None or s.get("memory_used_mib") is None
                            else max(total - s["memory_used_mib"], 0)),
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": ("Total number of single-bit volatile ECC errors.",
                                      lambda s, total: s.get("ecc_corrected")),
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": ("Total number of double-bit volatile ECC errors.",
                                      lambda s, total: s.get("ecc_uncorrected")),
    "DCGM_FI_DEV_ROW_REMAP_FAILURE": ("Whether remapping of rows has failed.",
                                      lambda s, total: None if s.get("row_remap_failure") is None
                                      else int(bool(s["row_remap_failure"]))),
}


def _label_value(text) -> str:
    # The text format escapes backslash, double quote and newline in label values.
    return str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_gpu_gauges() -> str:
    """The per-GPU families in Prometheus text format, written here rather than through
    prometheus_client (core/metrics.register_text_source): a fleet of 10,000 GPUs is about 90,000
    lines, and each GPU's label set is escaped once instead of once per line."""
    lines = {name: [] for name in GAUGES}
    rows = (Gpu.objects.filter(present=True, last_sample_at__gte=timezone.now() - STALE_AFTER)
            .order_by("node__name", "index")
            .values_list("index", "uuid", "model", "node__name", "memory_total_mib", "last_sample"))
    for index, uuid, model, hostname, total, sample in rows.iterator(chunk_size=2000):
        labels = (f'{{gpu="{index}",UUID="{_label_value(uuid)}",device="nvidia{index}",'
                  f'modelName="{_label_value(model)}",Hostname="{_label_value(hostname)}"}} ')
        sample = sample or {}
        for name, (_, read) in GAUGES.items():
            value = read(sample, total)
            if value is not None:
                lines[name].append(f"{name}{labels}{float(value)!r}\n")
    out = []
    for name, (help_text, _) in GAUGES.items():
        out.append(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n")
        out.extend(lines[name])
    return "".join(out)


class GpuHealthCollector:
    def collect(self):
        by_health = GaugeMetricFamily("aimatrix_gpus", "GPUs in the inventory by health and presence",
                                      labels=["health", "present"])
        counts = {(h, p): n for h, p, n in Gpu.objects.order_by().values_list("health", "present")
                  .annotate(n=Count("id"))}
        for health in GpuHealth:
            for present in (True, False):
                by_health.add_metric([health.value, str(present).lower()], counts.get((health.value, present), 0))
        yield by_health
