import django_filters

from apps.core.filtering import FilterSet

from .models import Alert, AlertState, DeliveryState, Event, EventType, Severity, WebhookDelivery


class EventFilter(FilterSet):
    type = django_filters.MultipleChoiceFilter(choices=EventType.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Severity.choices)
    object_type = django_filters.CharFilter(method="filter_object_type", label='Object type ("app.model")')
    object_id = django_filters.CharFilter(max_length=64)
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt")

    class Meta:
        model = Event
        fields = ["type", "severity", "object_type", "object_id", "since", "until"]

    def filter_object_type(self, queryset, name, value):
        app_label, _, model = value.partition(".")
        return queryset.filter(object_type__app_label=app_label, object_type__model=model)


class WebhookDeliveryFilter(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=DeliveryState.choices)
    rule = django_filters.NumberFilter(field_name="rule_id")
    event = django_filters.NumberFilter(field_name="event_id")

    class Meta:
        model = WebhookDelivery
        fields = ["state", "rule", "event"]


class AlertFilter(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=AlertState.choices)
    rule = django_filters.NumberFilter(field_name="rule_id")
    severity = django_filters.MultipleChoiceFilter(field_name="rule__severity", choices=Severity.choices)
    acked = django_filters.BooleanFilter(field_name="acked_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Alert
        fields = ["state", "rule", "severity", "acked"]
