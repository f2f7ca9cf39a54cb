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


def kind_choices():
    from . import registry

    return [(k.name, k.label) for k in registry.all_kinds()]


class JobListFilter(JobFilter):
    """The job list page's filter panel: kinds to choose from (the API keeps free text)."""

    kind = django_filters.ChoiceFilter(choices=(), label="Kind")
    requester = django_filters.CharFilter(field_name="requester__username", label="Requester (user name)")

    class Meta(JobFilter.Meta):
        pass

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["kind"].extra["choices"] = kind_choices()  # kinds registered by every app's ready()
