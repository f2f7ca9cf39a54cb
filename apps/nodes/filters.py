import django_filters

from apps.core.filtering import FilterSet

from .models import BmcDriver, Node, NodeState


class NodeFilter(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=NodeState.choices)
    label = django_filters.CharFilter(field_name="labels", lookup_expr="contains", method="filter_label")
    project = django_filters.CharFilter(field_name="project__name")
    bmc_driver = django_filters.ChoiceFilter(field_name="bmc__driver", choices=BmcDriver.choices)
    q = django_filters.CharFilter(method="filter_q", label="Search")

    class Meta:
        model = Node
        fields = ["state", "label", "project", "bmc_driver", "q"]

    def filter_label(self, queryset, name, value):
        return queryset.filter(labels__contains=[value])

    def filter_q(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(Q(name__icontains=value) | Q(address__icontains=value))
