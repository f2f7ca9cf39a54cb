"""Allocation tables: the list (my allocations) and the approval queue."""
import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from apps.core.tables import KitTable, TimeColumn

from .models import Allocation

STATE_TONES = {"pending": "warning", "approved": "info", "active": "success", "released": "secondary",
               "expired": "secondary", "rejected": "danger", "cancelled": "secondary"}


def state_badge(allocation: Allocation):
    return format_html('<span class="badge text-bg-{}">{}</span>', STATE_TONES.get(allocation.state, "light"),
                       allocation.get_state_display())


class AllocationTable(KitTable):
    locked_columns = ("id",)

    id = tables.Column(verbose_name="Allocation", linkify=lambda record: reverse("allocations:detail", args=[record.pk]))
    state = tables.Column()
    project = tables.Column(accessor="project__name", verbose_name="Project")
    requester = tables.Column(accessor="requester__username", verbose_name="Requester")
    gpu_count = tables.Column(verbose_name="GPUs")
    gpu_model = tables.Column(verbose_name="Model")
    start = TimeColumn()
    end = TimeColumn()
    purpose = tables.Column()

    class Meta(KitTable.Meta):
        model = Allocation
        fields = ()
        sequence = ("id", "state", "project", "requester", "gpu_count", "gpu_model", "start", "end", "purpose")
        empty_text = "No allocation matches these filters."
        attrs = {**KitTable.Meta.attrs, "id": "allocations"}

    def render_id(self, value):
        return f"#{value}"

    def render_state(self, record):
        return state_badge(record)

    def value_state(self, record):
        return record.state


class ApprovalTable(AllocationTable):
    approval_reason = tables.Column(verbose_name="Why it waits")

    class Meta(AllocationTable.Meta):
        sequence = ("id", "project", "requester", "gpu_count", "gpu_model", "start", "end", "approval_reason", "purpose")
        exclude = ("state",)
        attrs = {**KitTable.Meta.attrs, "id": "approvals"}
