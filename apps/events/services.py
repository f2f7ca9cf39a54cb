"""Business logic of events, rules and alerts: views, API, admin and tasks all call these.

Every write checks the permission layer, validates, and writes one audit entry.
"""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from apps.core.audit import record_audit
from apps.core.errors import Conflict, Forbidden, InvalidInput
from apps.keyvault import services as keyvault
from apps.keyvault.models import SecretKind
from apps.rbac.permissions import can, may_act_in_project, restrict

from . import metrics
from .models import Alert, AlertRule, AlertScope, AlertState, EventRule, EventType, Severity

MAX_LIST = 50
RULE_FIELDS = ("name", "enabled", "event_types", "object_types", "labels", "project", "min_severity",
               "webhook_url", "webhook_secret", "email_recipients")
ALERT_RULE_FIELDS = ("name", "enabled", "metric", "comparison", "threshold", "for_seconds", "window_seconds",
                     "severity", "scope", "scope_value", "project", "description")


def visible(model, user, action: str = "view"):
    return restrict(model.objects.all(), user, action)


# --- snapshots for the audit ---------------------------------------------------------------------
def _snapshot(obj, fields) -> dict:
    out = {}
    for name in fields:
        value = getattr(obj, name)
        out[name] = getattr(value, "pk", value) if hasattr(value, "_meta") else value
    return out


def _strings(value, field: str, *, allowed=None) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, (list, tuple)) or len(value) > MAX_LIST or \
            not all(isinstance(v, str) and 0 < len(v) <= 200 for v in value):
        raise InvalidInput({field: [f"A list of at most {MAX_LIST} non-empty texts (200 characters each)."]})
    if allowed is not None:
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise InvalidInput({field: [f"Unknown: {', '.join(unknown)}. Choose from {', '.join(sorted(allowed))}."]})
    return list(dict.fromkeys(value))


# --- event rules -----------------------------------------------------------------------------------
def _clean_rule(user, rule: EventRule, *, secret_changed: bool) -> None:
    from .webhooks import check_url

    rule.event_types = _strings(rule.event_types, "event_types", allowed=EventType.values)
    rule.object_types = _strings(rule.object_types, "object_types")
    bad = [t for t in rule.object_types if t.count(".") != 1]
    if bad:
        raise InvalidInput({"object_types": [f'Name models as "app.model" (e.g. gpus.gpu): {", ".join(bad)}.']})
    rule.labels = _strings(rule.labels, "labels")
    recipients = _strings(rule.email_recipients, "email_recipients")
    for address in recipients:
        try:
            validate_email(address)
        except ValidationError:
            raise InvalidInput({"email_recipients": [f"Not an e-mail address: {address}"]}) from None
    rule.email_recipients = recipients
    if rule.min_severity not in Severity.values:
        raise InvalidInput({"min_severity": [f"One of {', '.join(Severity.values)}."]})
    if not rule.webhook_url and not rule.email_recipients:
        raise InvalidInput({"webhook_url": ["Give a webhook URL, e-mail recipients, or both."]})
    if rule.webhook_url:
        check_url(rule.webhook_url)
    if rule.webhook_secret_id and not rule.webhook_url:
        raise InvalidInput({"webhook_secret": ["A signing secret needs a webhook URL."]})
    if rule.webhook_secret is not None:
        if rule.webhook_secret.kind != SecretKind.WEBHOOK_SECRET:
            raise InvalidInput({"webhook_secret": ["Choose a secret of kind 'webhook signing secret'."]})
        if secret_changed or rule.webhook_url:
            # Where the secret goes is the secret's business: the user may use it, and the URL's
            # host lies within its destinations.
            from urllib.parse import urlsplit
            keyvault.check_binding(user, rule.webhook_secret, urlsplit(rule.webhook_url).hostname,
                                   "webhook_secret")
    try:
        rule.full_clean(exclude=["event_types", "object_types", "labels", "email_recipients"])
    except ValidationError as exc:
        raise InvalidInput(exc.message_dict) from None


def create_event_rule(user, **fields) -> EventRule:
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise InvalidInput({sorted(unknown)[0]: ["Unknown field."]})
    if not may_act_in_project(user, EventRule, fields.get("project"), "add"):
        raise Forbidden("You may not add event rules" + (" to that project." if fields.get("project") else "."))
    rule = EventRule(**fields)
    _clean_rule(user, rule, secret_changed=True)
    with transaction.atomic():
        rule.save()
        record_audit("events.rule.create", actor=user, obj=rule, after=_snapshot(rule, RULE_FIELDS))
    return rule


def update_event_rule(user, rule: EventRule, **changes) -> EventRule:
    if not can(user, rule, "change"):
        raise Forbidden(f"You may not change event rule {rule.name!r}.")
    unknown = set(changes) - set(RULE_FIELDS)
    if unknown:
        raise InvalidInput({sorted(unknown)[0]: ["Unknown field."]})
    if "project" in changes and changes["project"] != rule.project and \
            not may_act_in_project(user, EventRule, changes["project"], "add"):
        raise Forbidden("You may not move the rule to that project.")
    before = _snapshot(rule, RULE_FIELDS)
    for name, value in changes.items():
        setattr(rule, name, value)
    _clean_rule(user, rule, secret_changed="webhook_secret" in changes or "webhook_url" in changes)
    with transaction.atomic():
        rule.save()
        record_audit("events.rule.update", actor=user, obj=rule, before=before, after=_snapshot(rule, RULE_FIELDS))
    return rule


def delete_event_rule(user, rule: EventRule) -> None:
    if not can(user, rule, "delete"):
        raise Forbidden(f"You may not delete event rule {rule.name!r}.")
    with transaction.atomic():
        record_audit("events.rule.delete", actor=user, obj=rule, before=_snapshot(rule, RULE_FIELDS))
        rule.delete()


# --- alert rules -----------------------------------------------------------------------------------
def _clean_alert_rule(rule: AlertRule) -> None:
    if metrics.get(rule.metric) is None:
        known = ", ".join(name for name, _ in metrics.choices())
        raise InvalidInput({"metric": [f"Unknown metric {rule.metric!r}; one of: {known}."]})
    if rule.scope in (AlertScope.NODE, AlertScope.LABEL) and not rule.scope_value:
        raise InvalidInput({"scope_value": [f"Name the {rule.scope} the rule watches."]})
    if rule.scope == AlertScope.PROJECT and rule.project_id is None:
        raise InvalidInput({"project": ["A project-scoped rule names its project."]})
    if rule.scope == AlertScope.ALL:
        rule.scope_value = ""
    if rule.for_seconds > settings.EVENTS_ALERT_MAX_FOR:
        raise InvalidInput({"for_seconds": [f"At most {settings.EVENTS_ALERT_MAX_FOR} s (the evaluator reads "
                                            "raw samples over this window)."]})
    if not 60 <= rule.window_seconds <= 7 * 86400:
        raise InvalidInput({"window_seconds": ["Between 60 s and 7 days."]})
    try:
        rule.full_clean()
    except ValidationError as exc:
        raise InvalidInput(exc.message_dict) from None


def create_alert_rule(user, **fields) -> AlertRule:
    unknown = set(fields) - set(ALERT_RULE_FIELDS)
    if unknown:
        raise InvalidInput({sorted(unknown)[0]: ["Unknown field."]})
    if not may_act_in_project(user, AlertRule, fields.get("project"), "add"):
        raise Forbidden("You may not add alert rules" + (" to that project." if fields.get("project") else "."))
    rule = AlertRule(**fields)
    _clean_alert_rule(rule)
    with transaction.atomic():
        rule.save()
        record_audit("events.alertrule.create", actor=user, obj=rule, after=_snapshot(rule, ALERT_RULE_FIELDS))
    return rule


def update_alert_rule(user, rule: AlertRule, **changes) -> AlertRule:
    if not can(user, rule, "change"):
        raise Forbidden(f"You may not change alert rule {rule.name!r}.")
    unknown = set(changes) - set(ALERT_RULE_FIELDS)
    if unknown:
        raise InvalidInput({sorted(unknown)[0]: ["Unknown field."]})
    if "project" in changes and changes["project"] != rule.project and \
            not may_act_in_project(user, AlertRule, changes["project"], "add"):
        raise Forbidden("You may not move the rule to that project.")
    before = _snapshot(rule, ALERT_RULE_FIELDS)
    for name, value in changes.items():
        setattr(rule, name, value)
    _clean_alert_rule(rule)
    with transaction.atomic():
        rule.save()
        record_audit("events.alertrule.update", actor=user, obj=rule, before=before,
                     after=_snapshot(rule, ALERT_RULE_FIELDS))
    return rule


def delete_alert_rule(user, rule: AlertRule) -> None:
    if not can(user, rule, "delete"):
        raise Forbidden(f"You may not delete alert rule {rule.name!r}.")
    with transaction.atomic():
        record_audit("events.alertrule.delete", actor=user, obj=rule, before=_snapshot(rule, ALERT_RULE_FIELDS))
        rule.delete()


# --- alerts: acknowledge and silence -----------------------------------------------------------------
def _may_ack(user, alert: Alert) -> None:
    if not can(user, alert, "ack"):
        raise Forbidden("You may not acknowledge or silence this alert (events.ack_alert).")


def ack_alert(user, alert: Alert) -> Alert:
    _may_ack(user, alert)
    if alert.acked_at is not None:
        raise Conflict(f"Already acknowledged by {alert.acked_by or 'someone'} at {alert.acked_at:%Y-%m-%d %H:%M:%S}.")
    with transaction.atomic():
        alert.acked_by, alert.acked_at = user, timezone.now()
        alert.save(update_fields=["acked_by", "acked_at"])
        record_audit("events.alert.ack", actor=user, obj=alert, after={"acked_at": alert.acked_at.isoformat()})
    return alert


def silence_alert(user, alert: Alert, *, seconds: int | None = None, until: dt.datetime | None = None) -> Alert:
    """Silence for `seconds` (or until a time): the alert's events are recorded, not announced,
    and an alert firing again for the same rule and object meanwhile stays silent. 0 lifts it."""
    _may_ack(user, alert)
    now = timezone.now()
    if until is None:
        if seconds is None or not 0 <= seconds <= settings.EVENTS_MAX_SILENCE:
            raise InvalidInput({"seconds": [f"Between 0 and {settings.EVENTS_MAX_SILENCE} seconds."]})
        until = now + dt.timedelta(seconds=seconds) if seconds else None
    elif until <= now or until > now + dt.timedelta(seconds=settings.EVENTS_MAX_SILENCE):
        raise InvalidInput({"until": [f"A future time within {settings.EVENTS_MAX_SILENCE} seconds."]})
    if alert.state == AlertState.RESOLVED and until is not None:
        raise Conflict("The alert is resolved; nothing to silence.")
    before = {"silenced_until": alert.silenced_until.isoformat() if alert.silenced_until else None}
    with transaction.atomic():
        alert.silenced_until = until
        alert.save(update_fields=["silenced_until"])
        record_audit("events.alert.silence", actor=user, obj=alert, before=before,
                     after={"silenced_until": until.isoformat() if until else None})
    return alert
