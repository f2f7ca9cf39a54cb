import django_filters

from apps.core.filtering import FilterSet

from .models import Job, JobStatus


class JobFilter(FilterSet):
    kind = django_filters.CharFilter(field_name="kind")
    status = django_filters.MultipleChoiceFilter(choices=JobStatus.choices)
    requester = django_filters.CharFilter(field_name="requester__username")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Job
        fields = ["kind", "status", "requester", "created_after", "created_before"]
