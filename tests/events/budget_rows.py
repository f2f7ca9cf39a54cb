"""Row makers for the API list query budgets (tests/core/test_api_query_budgets.py)."""
from django.utils import timezone

from apps.events.models import Alert, AlertRule, AlertState, Event, EventRule, EventType, WebhookDelivery


def events(n, start, user):
    now = timezone.now()
    Event.objects.bulk_create([Event(type=EventType.JOB_FINISHED, message=f"budget {i}", timestamp=now,
                                     object_repr=f"job {i}", data={"i": i}) for i in range(start, start + n)])


def event_rules(n, start, user):
    EventRule.objects.bulk_create([EventRule(name=f"budget-rule-{i:05d}", email_recipients=["ops@example.com"])
                                   for i in range(start, start + n)])


def deliveries(n, start, user):
    rule, _ = EventRule.objects.get_or_create(name="budget-hook", defaults={"webhook_url": "http://10.0.0.1/h"})
    now = timezone.now()
    made = Event.objects.bulk_create([Event(type=EventType.JOB_FINISHED, message=f"budget {i}", timestamp=now)
                                      for i in range(start, start + n)])
    WebhookDelivery.objects.bulk_create([WebhookDelivery(rule=rule, event=e, url=rule.webhook_url,
                                                         attempts=[{"n": 1, "status_code": 200}]) for e in made])


def alert_rules(n, start, user):
    AlertRule.objects.bulk_create([AlertRule(name=f"budget-alert-rule-{i:05d}", metric="gpu.power_w", threshold=i)
                                   for i in range(start, start + n)])


def alerts(n, start, user):
    rule = AlertRule.objects.order_by("pk").first() or AlertRule.objects.create(
        name="budget-alert-rule", metric="gpu.power_w", threshold=1)
    now = timezone.now()
    Alert.objects.bulk_create([Alert(rule=rule, state=AlertState.RESOLVED, value=1.0, started_at=now,
                                     resolved_at=now, object_id=str(i), object_repr=f"obj {i}",
                                     acked_by=user, acked_at=now) for i in range(start, start + n)])
