"""Template tags of the GPU pages and of the node page's GPU section.

{% gpu_health_badge gpu %}, {% gpu_utilization_bar value %}, {{ mib|mib_to_gib }},
{% node_gpus node as gpus %}: the node's GPUs this user may see (one query) and the URLs of the
node's metrics charts. The nodes app renders this from its template without importing gpus."""
from django import template
from django.urls import reverse

from apps.gpus import holders, services, tables
from apps.gpus.views import CHART_RANGES, CHART_REFRESH_S

register = template.Library()


@register.simple_tag
def gpu_health_badge(gpu):
    return tables.health_badge(gpu)


@register.simple_tag
def gpu_utilization_bar(value):
    return tables.utilization_bar(value)


@register.filter
def mib_to_gib(value):
    return "" if value in (None, "") else f"{float(value) / 1024:.1f}"


@register.simple_tag(takes_context=True)
def node_gpus(context, node):
    user = context["request"].user
    gpus = list(services.visible_gpus(user).filter(node=node).order_by("-present", "index", "id"))
    held = holders.holders([gpu.pk for gpu in gpus]) if gpus else {}
    for gpu in gpus:
        gpu.holders = held.get(gpu.pk, [])  # running Slurm jobs, active allocations (apps.gpus.holders)
    return {"gpus": gpus, "list_url": f"{reverse('gpus:list')}?node={node.pk}",
            "metrics_url": reverse("api:node-metrics", args=[node.pk]),
            "chart_ranges": CHART_RANGES, "chart_refresh_s": CHART_REFRESH_S}
