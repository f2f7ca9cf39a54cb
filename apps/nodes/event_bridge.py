"""What the nodes app publishes into the events app: power changes (the BMC poll and the power
job record a NodeEvent; each becomes a node.power_changed event). Connected from NodesConfig.ready()."""
from __future__ import annotations

from django.db.models.signals import post_save

from apps.events.models import EventType, Severity
from apps.events.publish import publish

from .models import NodeEvent

POWER_KINDS = {"power", "power.changed"}


def _on_node_event(sender, instance: NodeEvent, created: bool, raw: bool = False, **kwargs):
    if not created or raw or instance.kind not in POWER_KINDS:
        return
    after = (instance.data or {}).get("after")
    publish(EventType.POWER_CHANGED, instance.node, f"{instance.node.name}: {instance.message}",
            {"node": instance.node_id, "kind": instance.kind, **(instance.data or {})},
            severity=Severity.WARNING if after == "off" else Severity.INFO)


def connect() -> None:
    post_save.connect(_on_node_event, sender=NodeEvent, dispatch_uid="nodes.events.power")
