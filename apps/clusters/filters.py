import django_filters
from django.db.models import Q

from apps.core.filtering import FilterSet

from .models import Cluster, ClusterKind, ClusterStatus


class ClusterFilter(FilterSet):
    kind = django_filters.ChoiceFilter(choices=ClusterKind.choices)
    status = django_filters.MultipleChoiceFilter(choices=ClusterStatus.choices)
    q = django_filters.CharFilter(method="filter_q", label="Search")

    class Meta:
        model = Cluster
        fields = ["kind", "status", "q"]

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value)
                               | Q(slurm_cluster_name__icontains=value))
