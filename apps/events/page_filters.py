"""Filters of the event rule page (the alert and delivery pages use the API's, apps/events/filters.py)."""
import django_filters
from django.db.models import Q

from apps.core.filtering import FilterSet

from .models import EventRule, EventType, Severity


class EventRuleFilter(FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    enabled = django_filters.BooleanFilter()
    event_type = django_filters.ChoiceFilter(choices=EventType.choices, method="filter_event_type", label="Event type")
    min_severity = django_filters.MultipleChoiceFilter(choices=Severity.choices, label="Minimum severity")

    class Meta:
        model = EventRule
        fields = ["name", "enabled", "event_type", "min_severity"]

    def filter_event_type(self, queryset, name, value):
        # A rule without types takes every type.
        return queryset.filter(Q(event_types__contains=[value]) | Q(event_types=[]))
