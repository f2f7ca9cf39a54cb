import django_filters
from django.db.models import Q

from apps.core.filtering import FilterSet

from . import services
from .bmc import PowerState
from .models import BmcDriver, Node, NodeState

NO_BMC = "none"  # the power_state filter's value for nodes without a BMC
POWER_STATE_CHOICES = [(s.value, s.value.replace("-", " ").capitalize()) for s in PowerState] + [(NO_BMC, "No BMC")]


class NodeFilter(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=NodeState.choices)
    label = django_filters.CharFilter(field_name="labels", lookup_expr="contains", method="filter_label")
    project = django_filters.CharFilter(field_name="project__name")
    bmc_driver = django_filters.ChoiceFilter(field_name="bmc__driver", choices=BmcDriver.choices, label="BMC driver")
    power_state = django_filters.MultipleChoiceFilter(choices=POWER_STATE_CHOICES, method="filter_power_state",
                                                      label="Power state")
    pending_host_keys = django_filters.BooleanFilter(method="filter_pending_host_keys",
                                                     label="Has host keys pending approval")
    bmc_poll_error = django_filters.BooleanFilter(method="filter_bmc_poll_error", label="BMC poll failed")
    q = django_filters.CharFilter(method="filter_q", label="Search")

    class Meta:
        model = Node
        fields = ["state", "label", "project", "bmc_driver", "power_state", "pending_host_keys", "bmc_poll_error",
                  "q"]

    def filter_label(self, queryset, name, value):
        return queryset.filter(labels__contains=[value])

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(address__icontains=value))

    def filter_power_state(self, queryset, name, values):
        # A BMC not yet polled has an empty power state: it counts as unknown, as the dashboard shows it.
        condition = Q(pk__in=[])
        for value in values:
            if value == NO_BMC:
                condition |= Q(bmc__isnull=True)
            elif value == PowerState.UNKNOWN.value:
                condition |= Q(bmc__isnull=False, bmc__power_state__in=["", value])
            else:
                condition |= Q(bmc__power_state=value)
        return queryset.filter(condition)

    def filter_pending_host_keys(self, queryset, name, value):
        pending = services.has_pending_host_keys()
        return queryset.filter(pending if value else ~pending)

    def filter_bmc_poll_error(self, queryset, name, value):
        failed = services.bmc_poll_failed()
        return queryset.filter(failed if value else ~failed)
