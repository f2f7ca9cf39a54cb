"""Cluster list table: state counts from the last sync (Cluster.summary), never a live call."""
import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from apps.core.tables import KitTable, TimeColumn

from .models import Cluster

STATUS_BADGES = {"online": "text-bg-success", "degraded": "text-bg-warning", "unreachable": "text-bg-danger",
                 "error": "text-bg-danger", "discovering": "text-bg-info", "new": "text-bg-secondary"}
# Node state words (apps/clusters/discovery._state_word) and their colours on lists and the grid.
NODE_STATE_TONES = {"idle": "success", "mixed": "primary", "allocated": "primary", "draining": "warning",
                    "drained": "warning", "down": "danger", "error": "danger", "not_responding": "danger",
                    "future": "secondary", "unknown": "secondary"}


def status_badge(cluster: Cluster):
    return format_html('<span class="badge {}" title="{}">{}</span>', STATUS_BADGES.get(cluster.status, "text-bg-light"),
                       cluster.status_reason, cluster.get_status_display())


def state_counts(states: dict):
    if not states:
        return "—"
    return format_html_join(" ", '<span class="badge text-bg-{}">{} {}</span>',
                            ((NODE_STATE_TONES.get(k, "secondary"), v, k.replace("_", " "))
                             for k, v in sorted(states.items())))


class ClusterTable(KitTable):
    locked_columns = ("name",)

    name = tables.Column(linkify=lambda record: reverse("clusters:detail", args=[record.pk]))
    kind = tables.Column()
    status = tables.Column()
    controller = tables.Column(accessor="controller__name", verbose_name="Controller")
    version = tables.Column(accessor="slurm_version", verbose_name="Slurm")
    nodes = tables.Column(accessor="summary", verbose_name="Nodes", orderable=False)
    gpus = tables.Column(accessor="summary", verbose_name="GPUs", orderable=False)
    queue = tables.Column(accessor="summary", verbose_name="Queue", orderable=False)
    project = tables.Column(accessor="project__name", verbose_name="Project")
    synced_at = TimeColumn(verbose_name="Synced", never="never")

    class Meta(KitTable.Meta):
        model = Cluster
        fields = ()
        sequence = ("name", "kind", "status", "controller", "version", "nodes", "gpus", "queue", "project", "synced_at")
        empty_text = "No cluster matches these filters."
        attrs = {**KitTable.Meta.attrs, "id": "clusters"}

    def value_status(self, record):
        return record.status

    def value_nodes(self, value):
        return " ".join(f"{k}={v}" for k, v in sorted(((value or {}).get("states") or {}).items()))

    def value_gpus(self, value):
        value = value or {}
        return f"{value.get('gpus_allocated', 0)}/{value.get('gpus', 0)}"

    def value_queue(self, value):
        return (value or {}).get("queue_length")

    def render_status(self, record):
        return status_badge(record)

    def render_nodes(self, value):
        return state_counts((value or {}).get("states") or {})

    def render_gpus(self, value):
        value = value or {}
        return f"{value.get('gpus_allocated', 0)} / {value.get('gpus', 0)} in use" if value.get("gpus") else "—"

    def render_queue(self, value):
        length = (value or {}).get("queue_length")
        return "—" if length is None else f"{length} job(s)"
