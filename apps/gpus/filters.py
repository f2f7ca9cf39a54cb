import django_filters
from django.db.models import Q

from apps.core.filtering import FilterSet

from . import holders
from .models import Gpu, GpuHealth


class GpuFilter(FilterSet):
    node = django_filters.CharFilter(method="filter_node", label="Node (id or name)")
    cluster = django_filters.CharFilter(method="filter_cluster", label="Cluster (id or name)")
    model = django_filters.CharFilter(field_name="model", lookup_expr="icontains")
    health = django_filters.MultipleChoiceFilter(choices=GpuHealth.choices)
    present = django_filters.BooleanFilter()
    allocated = django_filters.BooleanFilter(method="filter_allocated",
                                             label="Allocated (held by a running Slurm job or an allocation)")
    label = django_filters.CharFilter(method="filter_label")
    q = django_filters.CharFilter(method="filter_q", label="Search")

    class Meta:
        model = Gpu
        fields = ["node", "cluster", "model", "health", "present", "allocated", "label", "q"]

    def filter_node(self, queryset, name, value):
        value = value.strip()
        if value.isascii() and value.isdigit() and len(value) <= 18:
            return queryset.filter(node_id=int(value))
        return queryset.filter(node__name=value)

    def filter_cluster(self, queryset, name, value):
        # Through the node's cluster membership (apps.clusters): a lookup path, no import upwards.
        value = value.strip()
        if value.isascii() and value.isdigit() and len(value) <= 18:
            return queryset.filter(node__cluster_member__cluster_id=int(value))
        return queryset.filter(node__cluster_member__cluster__name=value)

    def filter_allocated(self, queryset, name, value):
        held = holders.held_ids()
        return queryset.filter(pk__in=held) if value else queryset.exclude(pk__in=held)

    def filter_label(self, queryset, name, value):
        return queryset.filter(labels__contains=[value])

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(uuid__icontains=value) | Q(model__icontains=value) | Q(node__name__icontains=value))
