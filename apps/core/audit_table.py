"""The audit log page's table and filter panel (the API keeps apps.core.filters.AuditEventFilter)."""
import json

import django_filters
import django_tables2 as tables
from django.utils.html import format_html
from django.utils.http import urlencode

from .filters import AuditEventFilter
from .models import AuditEvent
from .tables import KitTable, TimeColumn
from .templatetags.readable import audit_diff

REQUEST_ID_SHOWN = 12


class AuditListFilter(AuditEventFilter):
    actor = django_filters.CharFilter(field_name="actor_repr", label="Actor (user name)")
    action = django_filters.CharFilter(field_name="action", label="Action")
    action_prefix = django_filters.CharFilter(field_name="action", lookup_expr="startswith",
                                              label="Action starts with")
    object_type = django_filters.CharFilter(field_name="object_type__model", label="Object type")
    object_id = django_filters.CharFilter(field_name="object_id", label="Object id")
    request_id = django_filters.CharFilter(field_name="request_id", label="Request id")
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte", label="Since")
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt", label="Until")

    class Meta(AuditEventFilter.Meta):
        pass

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        hints = {"action_prefix": "node.", "object_type": "node, project, secret, job",
                 "since": "2026-01-31T08:00:00+00:00", "until": "2026-01-31T18:00:00+00:00"}
        for name, hint in hints.items():
            self.form.fields[name].widget.attrs["placeholder"] = hint


class AuditTable(KitTable):
    locked_columns = ("timestamp",)

    timestamp = TimeColumn(verbose_name="Time")
    actor = tables.Column(accessor="actor_repr", verbose_name="Actor", default="system")
    action = tables.Column()
    object = tables.Column(accessor="object_repr", verbose_name="Object", empty_values=(),
                           order_by=("object_type__model", "object_id"))
    changes = tables.Column(orderable=False, empty_values=())
    ip = tables.Column(verbose_name="Client address", default="—")
    request_id = tables.Column(verbose_name="Request", default="—", orderable=False)

    class Meta(KitTable.Meta):
        model = AuditEvent
        fields = ()
        sequence = ("timestamp", "actor", "action", "object", "changes", "ip", "request_id")
        empty_text = "No entry matches these filters."

    def render_action(self, value):
        return format_html("<code>{}</code>", value)

    def value_action(self, value):
        return value

    def render_object(self, record):
        if not record.object_type_id:
            return record.object_repr or "—"
        # Every change to the same object: the log filtered to it.
        query = urlencode({"object_type": record.object_type.model, "object_id": record.object_id})
        return format_html('<a href="?{}" title="Every change to this object">{} {}</a>: {}',
                           query, record.object_type.model, record.object_id, record.object_repr)

    def value_object(self, record):
        if not record.object_type_id:
            return record.object_repr
        return f"{record.object_type.app_label}.{record.object_type.model}:{record.object_id} {record.object_repr}"

    def render_changes(self, record):
        return audit_diff(record.changes) or "—"

    def value_changes(self, record):
        return json.dumps(record.changes, sort_keys=True, default=str) if record.changes else ""

    def value_request_id(self, value):
        return value

    def render_request_id(self, value):
        return format_html('<span class="text-body-secondary" title="{}">{}</span>', value,
                           value if len(value) <= REQUEST_ID_SHOWN else value[:REQUEST_ID_SHOWN - 1] + "…")
