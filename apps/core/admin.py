from django.contrib import admin

from .admin_mixins import ReadOnlyModelAdmin
from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyModelAdmin, admin.ModelAdmin):
    """Read-only: the audit log is written by services, never edited."""

    list_display = ["timestamp", "actor_repr", "action", "object_type", "object_repr", "ip", "request_id"]
    list_filter = ["action", "object_type", ("timestamp", admin.DateFieldListFilter)]
    search_fields = ["actor_repr", "action", "object_repr", "object_id", "request_id"]
    date_hierarchy = "timestamp"
    list_select_related = ["object_type"]
