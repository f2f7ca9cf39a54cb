"""Pages: the alert list with acknowledge and silence, the event rules and the webhook delivery
log. Acknowledging and silencing call the same services as the API (permission, audit)."""
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.views import View

from apps.core.errors import Forbidden, ServiceError
from apps.core.list_views import KitListView
from apps.core.page_messages import report_service_error
from apps.core.redirects import redirect_next

from . import services
from .filters import AlertFilter, WebhookDeliveryFilter
from .models import Alert, EventRule, WebhookDelivery
from .page_filters import EventRuleFilter
from .tables import AlertTable, EventRuleTable, WebhookDeliveryTable

ACK_PERMISSION = "events.ack_alert"


class AlertListView(KitListView):
    template_name = "events/alert_list.html"
    filterset_class = AlertFilter
    table_class = AlertTable
    page_title = "Alerts"
    page_intro = ("Alert rules watch GPU and job metrics; an alert fires when a value stays past its threshold "
                  "for the rule's duration and resolves when it comes back.")
    export_name = "alerts.csv"
    empty = {"title": "No alerts yet",
             "text": "Nothing has crossed an alert rule's threshold (GPU temperature, utilization, memory use, "
                     "job error rate).",
             "how": "Operators change the rules in the admin or through /api/v1/alert-rules/."}

    def base_queryset(self):
        return services.visible(Alert, self.request.user).select_related("rule", "acked_by")

    def get_table(self):
        hidden = self.hidden_columns()
        table = self.table_class(self.object_list, request=self.request,
                                 may_ack=self.request.user.has_perm(ACK_PERMISSION))
        return table.configure(self.request, hidden=hidden), hidden

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        user = self.request.user
        ctx["may_view_rules"] = user.has_perm("events.view_eventrule")
        ctx["may_view_deliveries"] = user.has_perm("events.view_webhookdelivery")
        return ctx


class _AlertActionView(LoginRequiredMixin, View):
    """POST-only targets of the alert list's row buttons. The permission is decided on the model
    first (403, as the API does), then the alert must be in sight (404)."""

    http_method_names = ["post"]

    def post(self, request, pk):
        if not request.user.has_perm(ACK_PERMISSION):
            raise PermissionDenied("You may not acknowledge or silence alerts (events.ack_alert).")
        alert = get_object_or_404(services.visible(Alert, request.user), pk=pk)
        try:
            message = self.perform(request, alert)
        except Forbidden as exc:
            raise PermissionDenied(exc.message)
        except ServiceError as exc:
            report_service_error(request, exc)
        else:
            messages.success(request, message)
        return redirect_next(request, "events:alerts")


class AlertAckView(_AlertActionView):
    def perform(self, request, alert):
        services.ack_alert(request.user, alert)
        return f"Acknowledged {alert}."


class AlertSilenceView(_AlertActionView):
    def perform(self, request, alert):
        raw = request.POST.get("seconds", "")
        seconds = int(raw) if raw.isdigit() and len(raw) <= 9 else None  # the service names the bad field
        services.silence_alert(request.user, alert, seconds=seconds)
        return f"Lifted the silence of {alert}." if seconds == 0 else f"Silenced {alert}."


class EventRuleListView(PermissionRequiredMixin, KitListView):
    permission_required = "events.view_eventrule"
    filterset_class = EventRuleFilter
    table_class = EventRuleTable
    page_title = "Event rules"
    page_intro = ("Which events (type, object, labels, project, severity) are sent where: a signed webhook "
                  "(retried with backoff) and/or e-mail. Rules are edited in the admin or through the API.")
    export_name = "event-rules.csv"
    empty = {"title": "No event rules yet",
             "text": "An event rule sends matching events (hardware discovered, health or power changed, alerts, "
                     "configuration changes, finished jobs) to a webhook or to e-mail recipients.",
             "how": "Add one in the admin (Events, alerts and webhooks) or with POST /api/v1/event-rules/."}

    def base_queryset(self):
        return services.visible(EventRule, self.request.user).select_related("project")


class WebhookDeliveryListView(PermissionRequiredMixin, KitListView):
    permission_required = "events.view_webhookdelivery"
    filterset_class = WebhookDeliveryFilter
    table_class = WebhookDeliveryTable
    page_title = "Webhook deliveries"
    page_intro = "Every event sent to a rule's webhook, with each attempt's response code or error and time."
    export_name = "webhook-deliveries.csv"
    empty = {"title": "No webhook deliveries yet",
             "text": "A delivery is queued when an event matches a rule that has a webhook."}

    def base_queryset(self):
        return services.visible(WebhookDelivery, self.request.user).select_related("rule", "event")
