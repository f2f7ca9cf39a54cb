"""The GPUs' figures for /metrics, read from the database at scrape time (registered with core's
metrics in GpusConfig.ready()).

Per-GPU gauges carry dcgm-exporter's names and label names (`gpu`, `UUID`, `device`, `modelName`,
`Hostname`), so Grafana dashboards made for dcgm-exporter (e.g. NVIDIA's "DCGM Exporter Dashboard")
work on the portal's /metrics unchanged. Values are each GPU's newest sample (`Gpu.last_sample`,
kept by the ingest), read in one query whatever the fleet's size; a GPU whose newest sample is older
than STALE_AFTER is left out, as dcgm-exporter stops exporting a GPU it no longer reads. Labels are
bounded by the inventory (one series per GPU and metric): no job, sample or event ids.
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


class GpuCollector:
    def collect(self):
        families = {name: GaugeMetricFamily(name, help_text, labels=LABELS)
                    for name, (help_text, _) in GAUGES.items()}
        rows = (Gpu.objects.filter(present=True, last_sample_at__gte=timezone.now() - STALE_AFTER)
                .order_by().values_list("index", "uuid", "model", "node__name", "memory_total_mib", "last_sample"))
        for index, uuid, model, hostname, total, sample in rows.iterator(chunk_size=2000):
            labels = [str(index), uuid, f"nvidia{index}", model, hostname]
            sample = sample or {}
            for name, (_, read) in GAUGES.items():
                value = read(sample, total)
                if value is not None:
                    families[name].add_metric(labels, float(value))
        yield from families.values()

        by_health = GaugeMetricFamily("aimatrix_gpus", "GPUs in the inventory by health and presence",
                                      labels=["health", "present"])
        counts = {(h, p): n for h, p, n in Gpu.objects.order_by().values_list("health", "present")
                  .annotate(n=Count("id"))}
        for health in GpuHealth:
            for present in (True, False):
                by_health.add_metric([health.value, str(present).lower()], counts.get((health.value, present), 0))
        yield by_health
