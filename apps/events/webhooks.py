"""Webhook deliveries: a signed JSON POST to a checked address, one attempt at a time.

The URL's host must resolve into the managed networks (apps/core/netpolicy.py, as for BMCs),
checked when the rule is saved and again before each attempt on the address then connected to
(plain http is sent to that checked address, with the Host header of the URL; https goes to the
name, whose certificate is verified). The body is signed with the rule's key vault secret
(HMAC-SHA256; header `X-AIMatrix-Signature: sha256=<hex>`); the secret is read with its
destination checked, like every secret the portal sends somewhere. Each attempt runs under one
wall-clock deadline and is logged on the delivery with its status code and duration.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import time
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.utils import timezone

from apps.core import deadline, deadline_http, netpolicy
from apps.core.errors import InvalidInput
from apps.keyvault import services as keyvault
from apps.keyvault.destinations import DestinationRefused

from .models import DeliveryState, WebhookDelivery
from .payload import body_bytes, event_payload

SIGNATURE_HEADER = "X-AIMatrix-Signature"
USER_AGENT = "AIMatrix-Webhook/1"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_url(url: str, field: str = "webhook_url") -> None:
    """Save time: http(s) only, and a host inside the managed networks (names resolved now)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput({field: ["An http:// or https:// URL with a host is required."]})
    if parts.username or parts.password:
        raise InvalidInput({field: ["Put no credentials in the URL; the body is signed with the rule's secret."]})
    try:
        netpolicy.check_registration(parts.hostname)
    except netpolicy.AddressRefused as exc:
        raise InvalidInput({field: [str(exc)]}) from None


def backoff(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: base * 2^(attempt-1), capped."""
    return min(settings.EVENTS_WEBHOOK_BACKOFF_BASE * 2 ** (attempt - 1), settings.EVENTS_WEBHOOK_BACKOFF_MAX)


def _target(url: str) -> tuple[str, dict, str, list]:
    """(URL to send to, extra headers, host, checked addresses)."""
    parts = urlsplit(url)
    host = parts.hostname
    addresses = netpolicy.check_host(host, parts.port)
    if parts.scheme == "http" and str(addresses[0]) != host:
        ip = addresses[0]
        shown = f"[{ip}]" if isinstance(ip, ipaddress.IPv6Address) else str(ip)
        netloc = f"{shown}:{parts.port}" if parts.port else shown
        return urlunsplit(parts._replace(netloc=netloc)), {"Host": parts.netloc}, host, addresses
    return url, {}, host, addresses


def attempt(delivery: WebhookDelivery) -> bool:
    """One attempt. Records it on the delivery; True when it is worth another try later."""
    started, status, error = time.monotonic(), None, ""
    payload = event_payload(delivery.event, delivery.pk)
    body = body_bytes(payload)
    try:
        send_url, headers, host, addresses = _target(delivery.url)
        headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT,
                        "X-AIMatrix-Event": delivery.event.type, "X-AIMatrix-Delivery": str(delivery.pk)})
        secret = delivery.rule.webhook_secret
        if secret is not None:
            value = keyvault.use_secret(secret, f"webhook signature of event rule {delivery.rule.name}",
                                        actor="events webhook", destination=(host, addresses))
            headers[SIGNATURE_HEADER] = sign(value, body)
        with deadline.within(settings.EVENTS_WEBHOOK_DEADLINE, f"webhook POST to {host}"):
            with requests.Session() as session:
                deadline_http.mount(session)
                response = session.post(send_url, data=body, headers=headers, allow_redirects=False,
                                        timeout=settings.EVENTS_WEBHOOK_DEADLINE)
                status = response.status_code
                response.close()  # the body is never read: nothing of it is echoed anywhere
    except (netpolicy.AddressRefused, DestinationRefused) as exc:
        error = f"refused: {exc}"
    except deadline.DeadlineExceeded:
        error = f"no answer within {settings.EVENTS_WEBHOOK_DEADLINE:g} s"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}"  # the exception text may carry the remote's words
    except Exception as exc:  # a secret that expired or failed its check, ...
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    return _record(delivery, status, error, duration_ms)


def _record(delivery: WebhookDelivery, status: int | None, error: str, duration_ms: float) -> bool:
    now = timezone.now()
    delivery.attempt_count += 1
    delivery.attempts = [*delivery.attempts, {"n": delivery.attempt_count, "at": now.isoformat(),
                                              "status_code": status, "duration_ms": duration_ms,
                                              "error": error}]
    delivery.last_status_code = status
    ok = status is not None and 200 <= status < 300
    refused = error.startswith("refused")
    retry = not ok and not refused and delivery.attempt_count < settings.EVENTS_WEBHOOK_MAX_ATTEMPTS
    if ok:
        delivery.state, delivery.finished_at, delivery.next_attempt_at = DeliveryState.SUCCEEDED, now, None
    elif retry:
        delivery.state = DeliveryState.RETRYING
        delivery.next_attempt_at = now + dt.timedelta(seconds=backoff(delivery.attempt_count))
    else:
        delivery.state, delivery.finished_at, delivery.next_attempt_at = DeliveryState.FAILED, now, None
    delivery.save(update_fields=["attempt_count", "attempts", "last_status_code", "state", "finished_at",
                                 "next_attempt_at"])
    return retry
