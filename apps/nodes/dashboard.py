"""The nodes' dashboard panels (registered with core's dashboard in NodesConfig.ready()).

Every number is computed from services.visible_nodes(user), in a fixed number of grouped queries
whatever the fleet's size, and comes with the link to the node list filtered to exactly the nodes
it counts (apps/nodes/filters.py)."""
from __future__ import annotations

from django.db.models import Count, Q
from django.urls import reverse
from django.utils.http import urlencode

from apps.core import dashboard
from apps.core.dashboard import PanelOrder

from . import services
from .bmc import PowerState
from .filters import NO_BMC, POWER_STATE_CHOICES
from .models import NodeState

ATTENTION_ROWS = 5
POWER_LABELS = dict(POWER_STATE_CHOICES)


def node_list_url(**filters) -> str:
    return reverse("nodes:list") + (f"?{urlencode(filters)}" if filters else "")


def fleet(user) -> dict | None:
    """Nodes by lifecycle state and by power state, reachability, pending host keys, BMC poll errors."""
    nodes = services.visible_nodes(user).order_by()
    by_state = dict(nodes.values_list("state").annotate(n=Count("id")))
    totals = nodes.aggregate(total=Count("id"), pending_host_keys=Count("id", filter=Q(services.has_pending_host_keys())),
                             bmc_poll_errors=Count("id", filter=services.bmc_poll_failed()))
    if not totals["total"]:
        return {"total": 0, "list_url": node_list_url()}
    power = {}
    for value, n in nodes.values_list("bmc__power_state").annotate(n=Count("id")):
        key = NO_BMC if value is None else (value or PowerState.UNKNOWN.value)
        power[key] = power.get(key, 0) + n
    states = [{"value": s.value, "label": s.label, "count": by_state.get(s.value, 0),
               "url": node_list_url(state=s.value)} for s in NodeState]
    power_states = [{"value": value, "label": POWER_LABELS.get(value, value), "count": n,
                     "url": node_list_url(power_state=value) if value in POWER_LABELS else None}
                    for value, n in sorted(power.items(), key=lambda item: _power_order(item[0]))]
    return {
        **totals,
        "list_url": node_list_url(),
        "ready": by_state.get(NodeState.READY, 0), "ready_url": node_list_url(state=NodeState.READY),
        "unreachable": by_state.get(NodeState.UNREACHABLE, 0),
        "unreachable_url": node_list_url(state=NodeState.UNREACHABLE),
        "pending_host_keys_url": node_list_url(pending_host_keys="true"),
        "bmc_poll_errors_url": node_list_url(bmc_poll_error="true"),
        "states": states,
        "power_states": power_states,
    }


def _power_order(value: str) -> int:
    order = list(POWER_LABELS)
    return order.index(value) if value in order else len(order)


def attention(user) -> dict | None:
    """The nodes that need someone: host keys to decide, BMCs that cannot be polled. None if none."""
    nodes = services.visible_nodes(user).select_related(None)  # a node's facts can be large: names only
    host_keys = list(nodes.filter(services.has_pending_host_keys()).only("id", "name")[:ATTENTION_ROWS])
    poll_errors = list(nodes.filter(services.bmc_poll_failed()).select_related("bmc")
                       .only("id", "name", "bmc__poll_error", "bmc__polled_at", "bmc__driver")[:ATTENTION_ROWS])
    if not host_keys and not poll_errors:
        return None
    return {"host_keys": host_keys, "host_keys_url": node_list_url(pending_host_keys="true"),
            "poll_errors": poll_errors, "poll_errors_url": node_list_url(bmc_poll_error="true")}


def register_panels() -> None:
    dashboard.register_panel("nodes.fleet", template="nodes/_dashboard_fleet.html", context=fleet,
                             order=PanelOrder.FLEET)
    dashboard.register_panel("nodes.attention", template="nodes/_dashboard_attention.html", context=attention,
                             order=PanelOrder.ATTENTION + 1)
