"""Alert, event rule and webhook delivery pages: the list shows what the role may see, acknowledge
and silence go through the services (one audit entry each), refusals per role."""
import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.events.models import Alert, AlertRule, AlertState, Event, EventRule, EventType, WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(root):
    rule = AlertRule.objects.get(name="GPU temperature above 85 C")
    return Alert.objects.create(rule=rule, object_id="1", object_repr="gpu-node/gpu0", value=91.0, last_value=92.5,
                                started_at=timezone.now())


@pytest.fixture
def role(make_user):
    def make(name, group):
        user = make_user(name, staff=True)
        user.groups.add(Group.objects.get(name=group))
        return user
    return make


def test_alert_list_shows_severity_value_and_actions(client, root, alert):
    client.force_login(root)
    html = client.get(reverse("events:alerts")).content.decode()
    assert "gpu-node/gpu0" in html and "badge text-bg-danger" in html and "91 (last 92.5)" in html
    assert reverse("events:alert-ack", args=[alert.pk]) in html
    assert reverse("events:alert-silence", args=[alert.pk]) in html
    firing = client.get(reverse("events:alerts"), {"state": "firing", "severity": "critical"})
    assert "gpu-node/gpu0" in firing.content.decode()
    assert "gpu-node/gpu0" not in client.get(reverse("events:alerts"), {"state": "resolved"}).content.decode()


def test_ack_and_silence_through_the_services(client, root, alert):
    client.force_login(root)
    before = AuditEvent.objects.count()
    response = client.post(reverse("events:alert-ack", args=[alert.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("events:alerts")
    client.post(reverse("events:alert-silence", args=[alert.pk]), {"seconds": "3600"})
    alert.refresh_from_db()
    assert alert.acked_by == root and alert.silenced_until > timezone.now()
    assert list(AuditEvent.objects.order_by("pk").values_list("action", flat=True)[before:]) == [
        "events.alert.ack", "events.alert.silence"]
    # A second acknowledgement is refused with a message; nothing is written.
    page = client.post(reverse("events:alert-ack", args=[alert.pk]), follow=True).content.decode()
    assert "Already acknowledged" in page and AuditEvent.objects.count() == before + 2
    # A bad duration is refused, naming the field.
    page = client.post(reverse("events:alert-silence", args=[alert.pk]), {"seconds": "soon"}, follow=True)
    assert "seconds" in page.content.decode()
    assert "lift the silence" in client.get(reverse("events:alerts")).content.decode()
    client.post(reverse("events:alert-silence", args=[alert.pk]), {"seconds": "0"})
    alert.refresh_from_db()
    assert alert.silenced_until is None


def test_roles_without_ack_get_403_and_no_buttons(client, role, alert):
    engineer = role("eng", "engineer")
    client.force_login(engineer)
    assert client.get(reverse("events:alerts")).status_code == 200
    assert client.post(reverse("events:alert-ack", args=[alert.pk])).status_code == 403
    assert client.post(reverse("events:alert-silence", args=[alert.pk]), {"seconds": "60"}).status_code == 403
    assert client.get(reverse("events:rules")).status_code == 403
    assert client.get(reverse("events:deliveries")).status_code == 403
    alert.refresh_from_db()
    assert alert.acked_at is None and alert.state == AlertState.FIRING


def test_rules_and_delivery_log_for_operators(client, role):
    sre = role("sre-user", "sre")
    rule = EventRule.objects.create(name="hook-rule", webhook_url="http://10.0.0.30/hook",
                                    event_types=[EventType.GPU_HEALTH_CHANGED])
    EventRule.objects.create(name="mail-rule", email_recipients=["ops@example.com"])
    event = Event.objects.create(type=EventType.GPU_HEALTH_CHANGED, message="gpu0 failed", timestamp=timezone.now())
    WebhookDelivery.objects.create(rule=rule, event=event, url=rule.webhook_url, state="succeeded",
                                   attempt_count=2, last_status_code=200,
                                   attempts=[{"n": 1, "at": "2026-11-30T08:00:00Z", "status_code": 500,
                                              "duration_ms": 12},
                                             {"n": 2, "at": "2026-11-30T08:00:02Z", "status_code": 200,
                                              "duration_ms": 9}])
    client.force_login(sre)
    rules = client.get(reverse("events:rules"), {"event_type": EventType.GPU_HEALTH_CHANGED}).content.decode()
    assert "hook-rule" in rules and "mail-rule" in rules  # a rule without types takes every type
    assert f'{reverse("events:deliveries")}?rule={rule.pk}' in rules
    log = client.get(reverse("events:deliveries"), {"rule": rule.pk}).content.decode()
    assert "gpu0 failed" in log and "2026-11-30T08:00:00Z 500 (12 ms)" in log and "200 (9 ms)" in log
