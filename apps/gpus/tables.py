"""The GPU list's table. Figures come from each GPU's newest sample (Gpu.last_sample), so a row
never reads the time series."""
import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from apps.core.tables import KitTable, TimeColumn

from .models import Gpu

HEALTH_BADGES = {"ok": "text-bg-success", "degraded": "text-bg-warning", "failed": "text-bg-danger",
                 "maintenance": "text-bg-secondary"}


def health_badge(gpu: Gpu):
    badge = format_html('<span class="badge {}" title="{}">{}</span>', HEALTH_BADGES.get(gpu.health, "text-bg-light"),
                        gpu.health_reason, gpu.get_health_display())
    if not gpu.present:
        badge = format_html('{} <span class="badge text-bg-dark">missing</span>', badge)
    return badge


def sample_value(gpu: Gpu, name: str):
    return (gpu.last_sample or {}).get(name)


def utilization_bar(value):
    """A labelled progress bar (the number is in the text too: colour is never the only cue)."""
    if value is None or value == "":  # "": a template's lookup of a missing key (a GPU without samples)
        return "—"
    pct = max(0.0, min(float(value), 100.0))
    tone = "bg-danger" if pct >= 95 else "bg-warning" if pct >= 80 else "bg-success"
    pct = f"{pct:.0f}"
    return format_html(
        '<div class="d-flex align-items-center gap-2 gpu-util"><div class="progress flex-grow-1" role="progressbar" '
        'aria-label="Utilization" aria-valuenow="{0}" aria-valuemin="0" aria-valuemax="100" style="height:.6rem">'
        '<div class="progress-bar {1}" style="width:{0}%"></div></div><span class="small">{0}%</span></div>',
        pct, tone)


class GpuTable(KitTable):
    locked_columns = ("name",)

    name = tables.Column(accessor="index", verbose_name="GPU", order_by=("node__name", "index"),
                         linkify=lambda record: reverse("gpus:detail", args=[record.pk]))
    node = tables.Column(accessor="node__name", verbose_name="Node")
    model = tables.Column()
    health = tables.Column()
    utilization = tables.Column(accessor="last_sample", verbose_name="Utilization", orderable=False)
    memory = tables.Column(accessor="last_sample", verbose_name="Memory", orderable=False)
    temperature = tables.Column(accessor="last_sample", verbose_name="Temp.", orderable=False)
    power = tables.Column(accessor="last_sample", verbose_name="Power", orderable=False)
    labels = tables.Column(orderable=False)
    uuid = tables.Column(verbose_name="UUID")
    last_sample_at = TimeColumn(verbose_name="Last sample", never="never")

    class Meta(KitTable.Meta):
        model = Gpu
        fields = ()
        sequence = ("name", "node", "model", "health", "utilization", "memory", "temperature", "power", "labels",
                    "uuid", "last_sample_at")
        empty_text = "No GPU matches these filters."
        attrs = {**KitTable.Meta.attrs, "id": "gpus"}

    def render_name(self, record):
        return f"{record.node.name}/gpu{record.index}"

    def value_name(self, record):
        return f"{record.node.name}/gpu{record.index}"

    def render_health(self, record):
        return health_badge(record)

    def value_health(self, record):
        return record.health if record.present else f"{record.health} (missing)"

    def render_utilization(self, record):
        return utilization_bar(sample_value(record, "utilization_pct"))

    def value_utilization(self, record):
        return sample_value(record, "utilization_pct")

    def render_memory(self, record):
        used = sample_value(record, "memory_used_mib")
        if used is None:
            return "—"
        total = record.memory_total_mib
        return f"{used / 1024:.1f} / {total / 1024:.0f} GiB" if total else f"{used / 1024:.1f} GiB"

    def value_memory(self, record):
        return sample_value(record, "memory_used_mib")

    def render_temperature(self, record):
        value = sample_value(record, "temperature_c")
        return "—" if value is None else f"{value:.0f} °C"

    def value_temperature(self, record):
        return sample_value(record, "temperature_c")

    def render_power(self, record):
        value = sample_value(record, "power_w")
        return "—" if value is None else f"{value:.0f} W"

    def value_power(self, record):
        return sample_value(record, "power_w")

    def render_labels(self, value):
        return " ".join(f"#{label}" for label in value) if value else "—"

    def value_labels(self, value):
        return " ".join(value or [])
