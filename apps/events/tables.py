"""Tables of the alert list, the event rules and the webhook delivery log."""
import django_tables2 as tables
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from apps.core.tables import KitTable, TimeColumn
from apps.core.templatetags.readable import when

from .models import Alert, AlertState, DeliveryState, EventRule, WebhookDelivery

SEVERITY_BADGES = {"info": "text-bg-info", "warning": "text-bg-warning", "critical": "text-bg-danger"}
STATE_BADGES = {AlertState.FIRING: "text-bg-danger", AlertState.RESOLVED: "text-bg-success",
                DeliveryState.PENDING: "text-bg-secondary", DeliveryState.RETRYING: "text-bg-warning",
                DeliveryState.SUCCEEDED: "text-bg-success", DeliveryState.FAILED: "text-bg-danger"}
SILENCE_CHOICES = ((3600, "1 hour"), (4 * 3600, "4 hours"), (86400, "1 day"), (7 * 86400, "1 week"))


def badge(value: str, label: str, tones: dict):
    return format_html('<span class="badge {}">{}</span>', tones.get(value, "text-bg-light"), label)


class AlertTable(KitTable):
    locked_columns = ("rule",)

    rule = tables.Column(accessor="rule__name", verbose_name="Rule")
    severity = tables.Column(accessor="rule__severity", verbose_name="Severity")
    object = tables.Column(accessor="object_repr", verbose_name="Object", default="fleet")
    state = tables.Column()
    value = tables.Column(verbose_name="Value")
    started_at = TimeColumn(verbose_name="Started")
    resolved_at = TimeColumn(verbose_name="Resolved")
    acked = tables.Column(accessor="acked_at", verbose_name="Acknowledged")
    silenced_until = TimeColumn(verbose_name="Silenced until")
    actions = tables.Column(accessor="pk", verbose_name="Actions", orderable=False, exclude_from_export=True)

    class Meta(KitTable.Meta):
        model = Alert
        fields = ()
        sequence = ("rule", "severity", "object", "state", "value", "started_at", "resolved_at", "acked",
                    "silenced_until", "actions")
        empty_text = "No alert matches these filters."
        attrs = {**KitTable.Meta.attrs, "id": "alerts"}

    def __init__(self, *args, may_ack=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.may_ack = may_ack
        if not may_ack:
            self.columns.hide("actions")

    def render_severity(self, record):
        return badge(record.rule.severity, record.rule.get_severity_display(), SEVERITY_BADGES)

    def value_severity(self, record):
        return record.rule.severity

    def render_state(self, record):
        return badge(record.state, record.get_state_display(), STATE_BADGES)

    def value_state(self, record):
        return record.state

    def render_value(self, record):
        last = "" if record.last_value is None else f" (last {record.last_value:g})"
        return f"{record.value:g}{last}" if record.value is not None else "—"

    def value_value(self, record):
        return record.value

    def render_acked(self, record):
        who = record.acked_by.get_username() if record.acked_by_id else "someone"
        return format_html("{} by {}", when(record.acked_at), who)

    def value_acked(self, record):
        return record.acked_at.isoformat() if record.acked_at else ""

    def render_silenced_until(self, record):
        if record.silenced_until is None or record.silenced_until <= timezone.now():
            return "—"
        return when(record.silenced_until)

    def render_actions(self, record):
        if record.state != AlertState.FIRING:
            return "—"
        token = get_token(self.request)
        ack = "" if record.acked_at else format_html(
            '<form method="post" action="{}" class="d-inline">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<button type="submit" class="btn btn-outline-primary btn-sm">Acknowledge</button></form>',
            reverse("events:alert-ack", args=[record.pk]), token)
        options = format_html_join("", '<option value="{}">{}</option>', SILENCE_CHOICES)
        if record.silenced_until and record.silenced_until > timezone.now():
            options = format_html('<option value="0">lift the silence</option>{}', options)
        silence = format_html(
            '<form method="post" action="{}" class="d-inline-flex gap-1 align-items-center">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<select name="seconds" class="form-select form-select-sm w-auto" aria-label="Silence alert {} for">{}'
            '</select><button type="submit" class="btn btn-outline-secondary btn-sm">Silence</button></form>',
            reverse("events:alert-silence", args=[record.pk]), token, record.pk, options)
        return format_html('<div class="d-flex flex-wrap gap-1">{}{}</div>', ack, silence)


class EventRuleTable(KitTable):
    locked_columns = ("name",)

    name = tables.Column()
    enabled = tables.BooleanColumn()
    event_types = tables.Column(verbose_name="Events", orderable=False)
    filters = tables.Column(accessor="labels", verbose_name="Filters", orderable=False)
    min_severity = tables.Column(verbose_name="Minimum severity")
    webhook_url = tables.Column(verbose_name="Webhook", default="—")
    email_recipients = tables.Column(verbose_name="E-mail", orderable=False)
    deliveries = tables.Column(accessor="pk", verbose_name="Deliveries", orderable=False, exclude_from_export=True)

    class Meta(KitTable.Meta):
        model = EventRule
        fields = ()
        sequence = ("name", "enabled", "event_types", "filters", "min_severity", "webhook_url", "email_recipients",
                    "deliveries")
        empty_text = "No event rule matches these filters."
        attrs = {**KitTable.Meta.attrs, "id": "event-rules"}

    def render_event_types(self, value):
        return ", ".join(value) if value else "all"

    def value_event_types(self, value):
        return " ".join(value or [])

    def render_filters(self, record):
        parts = []
        if record.object_types:
            parts.append("objects: " + ", ".join(record.object_types))
        if record.labels:
            parts.append("labels: " + " ".join(f"#{label}" for label in record.labels))
        if record.project_id:
            parts.append(f"project: {record.project.name}")
        return "; ".join(parts) or "none"

    def value_filters(self, record):
        return self.render_filters(record)

    def render_email_recipients(self, value):
        return ", ".join(value) if value else "—"

    def value_email_recipients(self, value):
        return " ".join(value or [])

    def render_deliveries(self, record):
        if not record.webhook_url:
            return "—"
        return format_html('<a href="{}?rule={}">Delivery log</a>', reverse("events:deliveries"), record.pk)


class WebhookDeliveryTable(KitTable):
    locked_columns = ("created_at",)

    created_at = TimeColumn(verbose_name="Queued")
    rule = tables.Column(accessor="rule__name", verbose_name="Rule")
    event = tables.Column(accessor="event__message", verbose_name="Event")
    url = tables.Column(verbose_name="URL")
    state = tables.Column()
    last_status_code = tables.Column(verbose_name="Last response", default="—")
    attempts = tables.Column(verbose_name="Attempts", orderable=False)
    finished_at = TimeColumn(verbose_name="Finished")

    class Meta(KitTable.Meta):
        model = WebhookDelivery
        fields = ()
        sequence = ("created_at", "rule", "event", "url", "state", "last_status_code", "attempts", "finished_at")
        empty_text = "No delivery matches these filters."
        attrs = {**KitTable.Meta.attrs, "id": "webhook-deliveries"}

    def render_event(self, record):
        return f"{record.event.get_type_display()}: {record.event.message}"

    def render_state(self, record):
        return badge(record.state, record.get_state_display(), STATE_BADGES)

    def value_state(self, record):
        return record.state

    def render_attempts(self, value):
        """The delivery's log, one line per attempt: when, the response code or the error, how long."""
        if not value:
            return "none yet"
        return format_html('<ol class="small mb-0 ps-3">{}</ol>', format_html_join(
            "", "<li>{} {} {}</li>",
            ((a.get("at", ""), a.get("status_code") or a.get("error") or "no answer",
              f"({a['duration_ms']} ms)" if a.get("duration_ms") is not None else "") for a in value)))

    def value_attempts(self, value):
        return "; ".join(f"{a.get('at', '')} {a.get('status_code') or a.get('error') or ''}" for a in value or [])
