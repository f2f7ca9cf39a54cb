import django_filters
from django.db.models import Q

from apps.core.filtering import FilterSet

from .models import Allocation
from .states import AllocationState


class AllocationFilter(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=AllocationState.choices)
    project = django_filters.CharFilter(field_name="project__name", label="Project")
    mine = django_filters.BooleanFilter(method="filter_mine", label="Mine only")
    q = django_filters.CharFilter(method="filter_q", label="Search")

    class Meta:
        model = Allocation
        fields = ["state", "project", "mine", "q"]

    def filter_mine(self, queryset, name, value):
        request = getattr(self, "request", None)
        if value and request is not None:
            return queryset.filter(requester=request.user)
        return queryset

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(purpose__icontains=value) | Q(gpu_model__icontains=value)
                               | Q(requester__username__icontains=value) | Q(project__name__icontains=value))
