from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self):
        # Core fills its own registries like any other app; it imports no higher app.
        from . import search
        from .models import AuditEvent

        search.register(AuditEvent, label="Audit entries", fields=("actor_repr", "action", "object_repr"),
                        visible=_visible_audit, url=_audit_url)


def _visible_audit(user):
    from .models import AuditEvent

    # The audit log page's own rule: the whole log for holders of core.view_auditevent, else nothing.
    return AuditEvent.objects.all() if user.has_perm("core.view_auditevent") else AuditEvent.objects.none()


def _audit_url(event) -> str:
    from urllib.parse import urlencode

    from django.urls import reverse

    if event.object_type_id and event.object_id:
        query = {"object_type": event.object_type.model, "object_id": event.object_id}
    else:
        query = {"actor": event.actor_repr, "action": event.action}
    return f"{reverse('core:audit')}?{urlencode(query)}"
