"""The API: events, rules, deliveries, alerts with ack and silence (service, permission, audit)."""
import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.events.alerts import _announce
from apps.events.matching import matching_rules
from apps.events.models import Alert, AlertRule, AlertState, Event, EventType

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert():
    rule = AlertRule.objects.get(name="GPU temperature above 85 C")
    return Alert.objects.create(rule=rule, state=AlertState.FIRING, value=90.0, last_value=90.0,
                                started_at=timezone.now(), object_repr="gpu-node/gpu0", object_id="1")


def test_ack_is_audited_once_and_not_twice(api, root, alert):
    client = api(root)
    response = client.post(f"/api/v1/alerts/{alert.pk}/ack/")
    assert response.status_code == 200, response.content
    assert response.json()["acked_by"] == root.username and response.json()["acked_at"]
    assert AuditEvent.objects.filter(action="events.alert.ack", object_id=str(alert.pk)).count() == 1
    assert client.post(f"/api/v1/alerts/{alert.pk}/ack/").status_code == 409


def test_silence_with_expiry_keeps_events_unannounced(api, root, alert, settings):
    client = api(root)
    assert client.post(f"/api/v1/alerts/{alert.pk}/silence/", {"seconds": -1}, format="json").status_code == 400
    response = client.post(f"/api/v1/alerts/{alert.pk}/silence/", {"seconds": 600}, format="json")
    assert response.status_code == 200, response.content
    alert.refresh_from_db()
    assert timezone.now() + dt.timedelta(seconds=590) < alert.silenced_until <= timezone.now() + dt.timedelta(
        seconds=600)
    assert AuditEvent.objects.filter(action="events.alert.silence").count() == 1
    from apps.events import services

    services.create_event_rule(root, name="all mail", email_recipients=["ops@example.com"])
    _announce(alert, EventType.ALERT_RESOLVED, None, timezone.now(), "resolved while silenced")
    silenced = Event.objects.get(type=EventType.ALERT_RESOLVED)
    assert silenced.data["silenced"] is True and matching_rules(silenced) == []
    # After the expiry, events are announced again.
    _announce(alert, EventType.ALERT_RESOLVED, None, alert.silenced_until + dt.timedelta(seconds=1), "later")
    later = Event.objects.filter(type=EventType.ALERT_RESOLVED).exclude(pk=silenced.pk).get()
    assert "silenced" not in later.data and [r.name for r in matching_rules(later)] == ["all mail"]


def test_engineers_may_not_ack_nor_manage_rules(api, make_user, alert):
    engineer = make_user("eng")
    engineer.groups.add(Group.objects.get(name="engineer"))
    client = api(engineer)
    assert client.post(f"/api/v1/alerts/{alert.pk}/ack/").status_code == 403  # no events.ack_alert at all
    assert client.post("/api/v1/alert-rules/", {"name": "x", "metric": "gpu.power_w", "threshold": 1},
                       format="json").status_code == 403
    assert client.get("/api/v1/alert-rules/").status_code == 403
    assert client.get("/api/v1/events/").status_code == 200


def test_rule_validation_names_the_field(api, root):
    client = api(root)
    response = client.post("/api/v1/alert-rules/", {"name": "bad", "metric": "gpu.nothing", "threshold": 1},
                           format="json")
    assert response.status_code == 400 and "metric" in response.json()
    response = client.post("/api/v1/event-rules/", {"name": "empty"}, format="json")
    assert response.status_code == 400 and "webhook_url" in response.json()
    response = client.post("/api/v1/event-rules/", {"name": "mail", "email_recipients": ["ops@example.com"],
                                                    "event_types": ["alert.firing"]}, format="json")
    assert response.status_code == 201, response.content
    assert AuditEvent.objects.filter(action="events.rule.create").count() == 1
