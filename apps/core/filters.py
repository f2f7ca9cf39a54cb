import django_filters

from apps.core.filtering import FilterSet

from .models import AuditEvent


class AuditEventFilter(FilterSet):
    actor = django_filters.CharFilter(field_name="actor_repr")
    action = django_filters.CharFilter(field_name="action")
    action_prefix = django_filters.CharFilter(field_name="action", lookup_expr="startswith")
    object_type = django_filters.CharFilter(field_name="object_type__model")
    object_id = django_filters.CharFilter(field_name="object_id")
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "action_prefix", "object_type", "object_id", "request_id", "since", "until"]
