"""Celery tasks of the events app (default queue): thin, they load by id and call the modules."""
from celery import shared_task
from django.conf import settings


@shared_task(name="apps.events.tasks.match_event", ignore_result=True, soft_time_limit=60, time_limit=75)
def match_event(event_id: int):
    from .matching import dispatch

    return dispatch(event_id)


@shared_task(name="apps.events.tasks.deliver_webhook", ignore_result=True, soft_time_limit=60, time_limit=75)
def deliver_webhook(delivery_id: int):
    from . import webhooks
    from .models import DeliveryState, WebhookDelivery

    delivery = (WebhookDelivery.objects.select_related("event__object_type", "event__project", "rule__webhook_secret")
                .filter(pk=delivery_id, state__in=[DeliveryState.PENDING, DeliveryState.RETRYING]).first())
    if delivery is None:
        return None  # already delivered or given up (a redelivered task)
    if webhooks.attempt(delivery):
        deliver_webhook.apply_async((delivery_id,), countdown=webhooks.backoff(delivery.attempt_count))
    return delivery.state


@shared_task(name="apps.events.tasks.send_email", ignore_result=True, soft_time_limit=60, time_limit=75,
             autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def send_email(rule_id: int, event_id: int):
    from .models import Event, EventRule
    from .notify_email import send_event_email

    rule = EventRule.objects.filter(pk=rule_id).first()
    event = Event.objects.select_related("object_type", "project").filter(pk=event_id).first()
    if rule is None or event is None:
        return 0
    return send_event_email(rule, event)


@shared_task(name="apps.events.tasks.evaluate_alerts", ignore_result=True,
             soft_time_limit=max(25, int(settings.EVENTS_ALERT_INTERVAL) - 5),
             time_limit=max(30, int(settings.EVENTS_ALERT_INTERVAL)))
def evaluate_alerts():
    from .alerts import evaluate

    return evaluate()


@shared_task(name="apps.events.tasks.sweep", ignore_result=True, soft_time_limit=50, time_limit=58)
def sweep():
    from .sweep import sweep as run

    return run()
