"""Webhooks reach a real local HTTP receiver with a valid HMAC-SHA256 signature, are retried after
a 500 (the delivery log shows 500 then 200), and never go outside the managed networks. An XID
error marks the GPU failed and emits the event that triggers the webhook."""
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.utils import timezone

from apps.core.errors import InvalidInput
from apps.events import services
from apps.events.models import DeliveryState, Event, EventType, WebhookDelivery
from apps.events.publish import publish
from apps.gpus.ingest import ingest
from apps.gpus.models import Gpu, GpuHealth
from apps.keyvault import services as keyvault
from tests.gpus.conftest import iso, record

pytestmark = pytest.mark.django_db
SECRET = "whsec-test-value"


class Receiver:
    """A threaded HTTP server answering the status codes of `codes` in turn (then 200)."""

    def __init__(self, codes=()):
        self.codes, self.calls = list(codes), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers), body))
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def start(codes=()):
        made.append(Receiver(codes))
        return made[-1]
    yield start
    for r in made:
        r.close()


@pytest.fixture
def hook_secret(root, only_networks):
    only_networks("127.0.0.1/32", "10.0.0.0/8")
    return keyvault.create_secret(root, name="hook-secret", value=SECRET, kind="webhook_secret",
                                  destinations=["127.0.0.1/32"])


def test_xid_fails_the_gpu_emits_the_event_and_the_signed_webhook_is_retried_after_a_500(
        two_gpus, root, hook_secret, receiver, eager_celery, django_capture_on_commit_callbacks):
    hook = receiver(codes=[500])
    rule = services.create_event_rule(root, name="gpu failures", event_types=[EventType.GPU_HEALTH_CHANGED],
                                      min_severity="critical", webhook_url=hook.url, webhook_secret=hook_secret)
    with django_capture_on_commit_callbacks(execute=True):
        ingest(two_gpus, record(events=[{"uuid": "GPU-test-1", "ts": iso(timezone.now()), "kind": "xid", "xid": 79,
                                         "message": "GPU has fallen off the bus"}]), source="agent")
    gpu = Gpu.objects.get(uuid="GPU-test-1")
    assert gpu.health == GpuHealth.FAILED and gpu.health_reason.startswith("XID 79")
    event = Event.objects.get(type=EventType.GPU_HEALTH_CHANGED)
    assert (event.object_id, event.severity, event.data["after"]) == (str(gpu.pk), "critical", "failed")
    assert Event.objects.filter(type=EventType.NODE_HEALTH_CHANGED, object_id=str(two_gpus.pk)).exists()
    # The receiver got the same signed body twice: a 500, then a 200.
    assert len(hook.calls) == 2
    for headers, body in hook.calls:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-AIMatrix-Signature"], expected)
        payload = json.loads(body)
        assert payload["type"] == "gpu.health_changed" and payload["object"]["id"] == str(gpu.pk)
        assert payload["data"]["reason"].startswith("XID 79")
    delivery = WebhookDelivery.objects.get(rule=rule)
    assert delivery.state == DeliveryState.SUCCEEDED and delivery.attempt_count == 2
    assert [a["status_code"] for a in delivery.attempts] == [500, 200]
    assert all(a["duration_ms"] >= 0 for a in delivery.attempts)


def test_gives_up_after_the_maximum_attempts(root, hook_secret, receiver, eager_celery, settings,
                                             django_capture_on_commit_callbacks):
    settings.EVENTS_WEBHOOK_MAX_ATTEMPTS = 3
    hook = receiver(codes=[503, 503, 503, 503])
    services.create_event_rule(root, name="all", webhook_url=hook.url, webhook_secret=hook_secret)
    with django_capture_on_commit_callbacks(execute=True):
        publish(EventType.CONFIGURATION_CHANGED, None, "something changed")
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.FAILED and [a["status_code"] for a in delivery.attempts] == [503] * 3
    assert len(hook.calls) == 3


def test_unlisted_addresses_are_refused_at_save_and_at_send(root, hook_secret, receiver, eager_celery, settings,
                                                           django_capture_on_commit_callbacks, only_networks):
    with pytest.raises(InvalidInput) as refused:
        services.create_event_rule(root, name="outside", webhook_url="http://192.0.2.10/hook")
    assert "webhook_url" in refused.value.errors
    hook = receiver()
    services.create_event_rule(root, name="loopback", webhook_url=hook.url)
    only_networks("10.0.0.0/8")  # the receiver's network is no longer managed
    with django_capture_on_commit_callbacks(execute=True):
        publish(EventType.CONFIGURATION_CHANGED, None, "something changed")
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.FAILED and delivery.attempts[0]["error"].startswith("refused")
    assert hook.calls == []


def test_the_secret_must_be_a_webhook_secret_bound_to_the_url(root, hook_secret, receiver):
    other = keyvault.create_secret(root, name="not-a-hook", value="x", kind="api_token",
                                   destinations=["127.0.0.1/32"])
    hook = receiver()
    with pytest.raises(InvalidInput) as refused:
        services.create_event_rule(root, name="wrong kind", webhook_url=hook.url, webhook_secret=other)
    assert "webhook_secret" in refused.value.errors
    elsewhere = keyvault.create_secret(root, name="hook-elsewhere", value="x", kind="webhook_secret",
                                       destinations=["10.9.9.9/32"])
    with pytest.raises(InvalidInput) as refused:
        services.create_event_rule(root, name="wrong destination", webhook_url=hook.url, webhook_secret=elsewhere)
    assert "webhook_secret" in refused.value.errors


def test_email_through_the_django_backend(root, settings, eager_celery, django_capture_on_commit_callbacks,
                                          gpu_node):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    services.create_event_rule(root, name="mail power", event_types=[EventType.POWER_CHANGED],
                               email_recipients=["ops@example.com", "sre@example.com"])
    from apps.nodes.models import NodeEvent

    with django_capture_on_commit_callbacks(execute=True):
        NodeEvent.objects.create(node=gpu_node, kind="power.changed", message="power on -> off",
                                 data={"before": "on", "after": "off"})
        publish(EventType.JOB_FINISHED, None, "not for this rule")
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["ops@example.com", "sre@example.com"]
    assert "Power changed" in sent.subject and "gpu-node" in sent.subject
    assert "power on -> off" in sent.body


def test_the_sweep_requeues_lost_matching_and_lost_retries(root, hook_secret, receiver, eager_celery):
    """The matching task of an event was never queued (on-commit callbacks dropped, as with the
    broker down), and a delivery's retry task was lost: the sweep sends both, once."""
    import datetime as dt

    from apps.events.sweep import sweep

    hook = receiver()
    rule = services.create_event_rule(root, name="all", webhook_url=hook.url, webhook_secret=hook_secret)
    lost = publish(EventType.CONFIGURATION_CHANGED, None, "published while the broker was down")
    waiting = publish(EventType.CONFIGURATION_CHANGED, None, "its retry task was lost")
    Event.objects.filter(pk=waiting.pk).update(dispatched_at=timezone.now())
    retry = WebhookDelivery.objects.create(rule=rule, event=waiting, url=hook.url, state=DeliveryState.RETRYING,
                                           attempt_count=1, attempts=[{"n": 1, "status_code": 500}],
                                           next_attempt_at=timezone.now())
    assert sweep(now=timezone.now())["events"] == 0  # within the grace: its task may be on its way
    later = timezone.now() + dt.timedelta(minutes=5)
    assert sweep(now=later) == {"events": 1, "deliveries": 1}
    assert WebhookDelivery.objects.get(event=lost).state == DeliveryState.SUCCEEDED
    retry.refresh_from_db()
    assert retry.state == DeliveryState.SUCCEEDED and [a["status_code"] for a in retry.attempts] == [500, 200]
    assert len(hook.calls) == 2
    assert sweep(now=later) == {"events": 0, "deliveries": 0}  # nothing twice
