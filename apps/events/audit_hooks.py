"""Configuration changes: audit entries of the changes operators make to nodes and GPUs (through
their services, whatever the entry point) become configuration.changed events. Listening to the
audit log (in core, below this app) covers every service that audits without touching it."""
from __future__ import annotations

from django.db.models.signals import post_save

from apps.core.models import AuditEvent

from .models import EventType
from .publish import publish

CONFIG_ACTIONS = {"node.create", "node.update", "node.delete", "node.bmc_set", "node.bmc_remove",
                  "gpu.update", "gpu.delete"}


def _on_audit(sender, instance: AuditEvent, created: bool, raw: bool = False, **kwargs):
    if not created or raw or instance.action not in CONFIG_ACTIONS:
        return
    obj = None
    if instance.object_type_id and instance.object_id:
        model = instance.object_type.model_class()
        obj = model._default_manager.filter(pk=instance.object_id).first() if model else None
    message = f"{instance.action} {instance.object_repr} by {instance.actor_repr or 'system'}"
    data = {"action": instance.action, "audit": instance.pk, "actor": instance.actor_repr,
            "object": instance.object_repr, "changes": instance.changes}
    publish(EventType.CONFIGURATION_CHANGED, obj, message, data)


post_save.connect(_on_audit, sender=AuditEvent, dispatch_uid="events.audit_config")
