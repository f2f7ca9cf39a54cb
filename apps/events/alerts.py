"""The alert evaluator (a beat task every EVENTS_ALERT_INTERVAL seconds).

For each enabled rule, its metric source answers per object over two bounded windows:
- held: the last `for_seconds` (rate metrics: the last `window_seconds`). An object breaches when
  every sample in it crosses the threshold and the samples reach back to the window's start
  (within EVENTS_ALERT_SLACK seconds), i.e. the condition held for the whole for-duration.
- recent: the last EVENTS_ALERT_SLACK seconds. A firing alert resolves once every recent sample is
  back on the good side. Objects without recent samples keep their state (no data is no verdict).
Firing and resolving publish alert events with the value and times. A new alert for a rule and
object whose previous alert is still silenced inherits the silence (its events are not announced).
"""
from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.contenttypes import content_type_for

from . import metrics
from .models import Alert, AlertRule, AlertState, Comparison, EventType
from .publish import project_of, publish

logger = logging.getLogger(__name__)


def _held(rule: AlertRule, reading: metrics.Reading) -> float | None:
    """The value that says whether the condition held over the whole window (None: no data)."""
    if not reading.count:
        return None
    return reading.low if rule.comparison in (Comparison.GT, Comparison.GE) else reading.high


def _worst(rule: AlertRule, reading: metrics.Reading) -> float | None:
    if not reading.count:
        return None
    return reading.high if rule.comparison in (Comparison.GT, Comparison.GE) else reading.low


def evaluate(now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    totals = {"rules": 0, "fired": 0, "resolved": 0, "errors": 0}
    for rule in AlertRule.objects.filter(enabled=True):
        source = metrics.get(rule.metric)
        if source is None:
            continue  # a metric whose app is not installed
        totals["rules"] += 1
        try:
            with transaction.atomic():
                fired, resolved = evaluate_rule(rule, source, now)
        except Exception:  # one broken rule must not stop the others
            logger.exception("alerts: rule %s failed", rule.pk)
            totals["errors"] += 1
            continue
        totals["fired"] += fired
        totals["resolved"] += resolved
    return totals


def evaluate_rule(rule: AlertRule, source: metrics.MetricSource, now: dt.datetime) -> tuple[int, int]:
    # One evaluator per rule at a time (an overrunning beat tick and the next one): the rule row
    # is the lock, held until this rule's alerts are written.
    AlertRule.objects.select_for_update().filter(pk=rule.pk).values_list("pk", flat=True).first()
    slack = dt.timedelta(seconds=settings.EVENTS_ALERT_SLACK)
    if source.rate:
        held = source.read(rule, now - dt.timedelta(seconds=rule.window_seconds), now)
        recent = held
        reach = None
    else:
        span = dt.timedelta(seconds=rule.for_seconds) if rule.for_seconds else slack
        held = source.read(rule, now - span, now)
        recent = source.read(rule, now - slack, now) if rule.for_seconds else held
        reach = now - span + slack  # the samples must start this early
    firing = {a.object_id: a for a in Alert.objects.select_for_update().filter(rule=rule, state=AlertState.FIRING)}
    breaching = {}
    for reading in held:
        value = _held(rule, reading)
        covered = reach is None or not rule.for_seconds or (reading.first_ts is not None and reading.first_ts <= reach)
        if value is not None and covered and rule.crosses(value):
            breaching[_key(reading.key)] = reading
    to_fire = [r for k, r in breaching.items() if k not in firing]
    calm = {}
    for reading in recent:
        key = _key(reading.key)
        if key in firing and key not in breaching:
            worst = _worst(rule, reading)
            if worst is not None and not rule.crosses(worst):
                calm[key] = worst
    objects = source.load([r.key for r in to_fire if r.key is not None])
    for reading in to_fire:
        _fire(rule, reading, objects.get(reading.key), now)
    for key, alert in firing.items():
        if key in breaching:
            alert.last_value = _worst(rule, breaching[key])
            alert.save(update_fields=["last_value"])
        elif key in calm:
            _resolve(alert, calm[key], now)
    return len(to_fire), len(calm)


def _key(key) -> str:
    return "" if key is None else str(key)


def _fire(rule: AlertRule, reading: metrics.Reading, obj, now) -> Alert:
    value = _worst(rule, reading)
    alert = Alert(rule=rule, state=AlertState.FIRING, value=value, last_value=value, started_at=now,
                  object_id=_key(reading.key))
    if obj is not None:
        alert.object_type = content_type_for(obj)
        alert.object_repr = str(obj)[:200]
        project = project_of(obj)
        alert.project_id = getattr(project, "pk", None)
    previous = (Alert.objects.filter(rule=rule, object_type=alert.object_type, object_id=alert.object_id,
                                     silenced_until__gt=now).order_by("-silenced_until").first())
    if previous is not None:
        alert.silenced_until = previous.silenced_until
    alert.save()
    _announce(alert, EventType.ALERT_FIRING, obj, now,
              f"{rule.name}: {alert.object_repr or 'fleet'} {rule.metric} {value:g} {rule.comparison} "
              f"{rule.threshold:g}" + (f" for {rule.for_seconds} s" if rule.for_seconds else ""))
    return alert


def _resolve(alert: Alert, value: float, now) -> None:
    alert.state, alert.resolved_at, alert.last_value = AlertState.RESOLVED, now, value
    alert.save(update_fields=["state", "resolved_at", "last_value"])
    rule = alert.rule
    _announce(alert, EventType.ALERT_RESOLVED, alert.object, now,
              f"{rule.name}: {alert.object_repr or 'fleet'} back to {value:g} "
              f"(fired at {alert.started_at:%Y-%m-%d %H:%M:%S %Z})")


def _announce(alert: Alert, type: str, obj, now, message: str) -> None:
    rule = alert.rule
    data = {"alert": alert.pk, "rule": rule.name, "metric": rule.metric, "comparison": rule.comparison,
            "threshold": rule.threshold, "for_seconds": rule.for_seconds, "value": alert.value,
            "last_value": alert.last_value, "started_at": alert.started_at.isoformat(),
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None}
    if alert.silenced_at(now):
        data["silenced"] = True
    severity = rule.severity if type == EventType.ALERT_FIRING else "info"
    publish(type, obj, message, data, severity=severity, project=alert.project_id, at=now)
