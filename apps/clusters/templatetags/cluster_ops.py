"""What the cluster page's node-state and accounting sections need, without touching its view:
whether the user may manage the cluster, and the accounting drift of its project accounts."""
from django import template

from apps.rbac.permissions import can

from ..node_states import NodeStateAction

register = template.Library()


@register.simple_tag(takes_context=True)
def cluster_ops(context, cluster) -> dict:
    user = context["request"].user
    accounts = list(cluster.accounts.values("account", "drift", "checked_at"))
    drifted = [a["account"] for a in accounts if a["drift"]]
    checked = [a["checked_at"] for a in accounts if a["checked_at"]]
    return {"may_manage": user.has_perm("clusters.manage_cluster") and can(user, cluster, "manage"),
            "actions": [(a.value, a.label, a.needs_reason) for a in NodeStateAction],
            "accounts": len(accounts), "drifted": drifted, "checked_at": min(checked) if checked else None}
