"""The job list's table."""
import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from apps.core.tables import KitTable, TimeColumn
from apps.core.templatetags.readable import duration

from . import registry
from .models import Job


def kind_label(name: str) -> str:
    kind = registry.get_kind(name)
    return kind.label if kind is not None else name


class JobTable(KitTable):
    locked_columns = ("id",)

    id = tables.Column(verbose_name="#")
    kind = tables.Column()
    target = tables.Column(accessor="target_repr", verbose_name="Target", default="—")
    status = tables.Column()
    progress = tables.Column()
    requester = tables.Column(accessor="requester__username", verbose_name="Requester", default="system")
    created_at = TimeColumn(verbose_name="Created")
    duration = tables.Column(accessor="started_at", verbose_name="Duration", orderable=False)

    class Meta(KitTable.Meta):
        model = Job
        fields = ()
        sequence = ("id", "kind", "target", "status", "progress", "requester", "created_at", "duration")
        empty_text = "No job matches these filters."

    def render_id(self, value):
        return format_html('<a href="{}">{}</a>', reverse("jobs:detail", args=[value]), value)

    def value_id(self, value):
        return value

    def render_kind(self, value):
        return format_html('{} <code class="small">{}</code>', kind_label(value), value)

    def value_kind(self, value):
        return value

    def render_status(self, record):
        return format_html('<span class="badge status-{}">{}</span>', record.status, record.get_status_display())

    def value_status(self, record):
        return record.status

    def render_progress(self, record):
        return format_html('<div class="progress kit-progress" role="progressbar" aria-label="Job {} progress" '
                           'aria-valuenow="{}" aria-valuemin="0" aria-valuemax="100">'
                           '<div class="progress-bar" style="width: {}%"></div></div>',
                           record.pk, record.progress, record.progress)

    def value_progress(self, record):
        return record.progress

    def render_duration(self, record):
        return duration(record.started_at, record.finished_at)

    def value_duration(self, record):
        if record.started_at and record.finished_at:
            return round((record.finished_at - record.started_at).total_seconds(), 1)
        return ""
