from django.contrib import admin

from apps.core.admin_mixins import ReadOnlyModelAdmin
from apps.rbac.admin_base import RestrictedModelAdmin

from . import services
from .models import Alert, AlertRule, Event, EventRule, WebhookDelivery


@admin.register(Event)
class EventAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    list_display = ["timestamp", "type", "severity", "object_repr", "project", "message"]
    list_filter = ["type", "severity"]
    search_fields = ["message", "object_repr"]
    list_select_related = ["project"]
    show_full_result_count = False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    list_display = ["created_at", "rule", "event", "state", "attempt_count", "last_status_code"]
    list_filter = ["state"]
    list_select_related = ["rule", "event"]


class ServiceAdmin(RestrictedModelAdmin):
    """Writes go through the app's services (permission, validation, one audit entry)."""

    create_service = update_service = delete_service = None

    def create_through_service(self, request, form):
        fields = {name: value for name, value in form.cleaned_data.items() if name in self.fields}
        return type(self).create_service(request.user, **fields)

    def update_through_service(self, request, original, changes, form):
        return type(self).update_service(request.user, original, **changes)

    def delete_through_service(self, request, obj):
        type(self).delete_service(request.user, obj)


@admin.register(EventRule)
class EventRuleAdmin(ServiceAdmin):
    list_display = ["name", "enabled", "min_severity", "webhook_url", "project"]
    list_filter = ["enabled", "min_severity"]
    search_fields = ["name"]
    list_select_related = ["project"]
    fields = ["name", "enabled", "event_types", "object_types", "labels", "project", "min_severity", "webhook_url",
              "webhook_secret", "email_recipients"]
    create_service = staticmethod(services.create_event_rule)
    update_service = staticmethod(services.update_event_rule)
    delete_service = staticmethod(services.delete_event_rule)


@admin.register(AlertRule)
class AlertRuleAdmin(ServiceAdmin):
    list_display = ["name", "enabled", "metric", "comparison", "threshold", "for_seconds", "severity", "scope"]
    list_filter = ["enabled", "severity", "scope", "metric"]
    search_fields = ["name", "metric"]
    fields = ["name", "enabled", "metric", "comparison", "threshold", "for_seconds", "window_seconds", "severity",
              "scope", "scope_value", "project", "description"]
    create_service = staticmethod(services.create_alert_rule)
    update_service = staticmethod(services.update_alert_rule)
    delete_service = staticmethod(services.delete_alert_rule)


@admin.register(Alert)
class AlertAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    list_display = ["started_at", "rule", "object_repr", "state", "value", "resolved_at", "acked_by", "silenced_until"]
    list_filter = ["state"]
    search_fields = ["object_repr", "rule__name"]
    list_select_related = ["rule", "acked_by"]
