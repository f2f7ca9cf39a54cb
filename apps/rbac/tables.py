"""The project list's table."""
import django_tables2 as tables

from apps.core.tables import KitTable, TimeColumn

from .models import Project

NO_LIMIT = "no limit"


class ProjectTable(KitTable):
    locked_columns = ("name",)

    name = tables.Column(linkify=True)
    description = tables.Column(orderable=False, default="—")
    members = tables.Column(accessor="member_count", verbose_name="Members")
    # From the view's prefetch (owner memberships with their users): two queries for any page.
    owners = tables.Column(empty_values=(), verbose_name="Owners", orderable=False)
    gpu_quota = tables.Column(verbose_name="GPU quota", default=NO_LIMIT)
    gpu_hours_quota = tables.Column(verbose_name="GPU hours / month", default=NO_LIMIT)
    created_at = TimeColumn(verbose_name="Created")

    class Meta(KitTable.Meta):
        model = Project
        fields = ()
        sequence = ("name", "description", "members", "owners", "gpu_quota", "gpu_hours_quota", "created_at")
        empty_text = "No project matches these filters."

    def render_description(self, value):
        return value if len(value) <= 80 else value[:79] + "…"

    def value_description(self, value):
        return value

    def render_owners(self, record):
        return ", ".join(m.user.username for m in record.owner_memberships) or "—"

    def value_owners(self, record):
        return " ".join(m.user.username for m in record.owner_memberships)

    def value_gpu_quota(self, value):
        return "" if value is None else value

    def value_gpu_hours_quota(self, value):
        return "" if value is None else value

