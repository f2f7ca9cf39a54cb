"""DRF throttles key on the real client address, not on a header the client writes."""
import random
import time

import pytest
from django.test import override_settings
from django.urls import get_resolver
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from apps.core.api import throttles

pytestmark = pytest.mark.django_db

REDEEM = "/api/v1/keyvault/redeem/"
LIMIT = 10


@pytest.fixture
def low_rate(monkeypatch):
    monkeypatch.setattr(throttles.AnonRateThrottle, "THROTTLE_RATES", {"anon": f"{LIMIT}/min"})


def fresh_address() -> str:
    """Throttle counters live in Redis: a new address per test run keeps runs independent."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def redeem_statuses(attempts, remote_addr, forwarded) -> list[int]:
    client = APIClient()
    body = {"token": "kv1.not.a.token", "timestamp": time.time()}
    return [client.post(REDEEM, body, format="json", REMOTE_ADDR=remote_addr,
                        HTTP_X_FORWARDED_FOR=forwarded(n)).status_code
            for n in range(attempts)]


@override_settings(TRUSTED_PROXIES=[])
def test_a_rotating_forwarded_header_does_not_escape_the_throttle(low_rate):
    statuses = redeem_statuses(3 * LIMIT, fresh_address(), lambda n: f"198.51.100.{n % 250}")
    assert statuses.count(429) == 2 * LIMIT, statuses


def test_behind_a_trusted_proxy_each_real_client_has_its_own_bucket(low_rate):
    proxy, alice, bob = fresh_address(), fresh_address(), fresh_address()
    with override_settings(TRUSTED_PROXIES=[proxy]):
        # alice writes a new left-hand entry every time; the proxy appends her real address.
        alice_statuses = redeem_statuses(2 * LIMIT, proxy, lambda n: f"203.0.113.{n}, {alice}")
        bob_statuses = redeem_statuses(LIMIT, proxy, lambda n: bob)
    assert alice_statuses.count(429) == LIMIT, alice_statuses
    assert 429 not in bob_statuses, bob_statuses


def _views(patterns):
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            yield from _views(pattern.url_patterns)
        else:
            callback = pattern.callback
            yield getattr(callback, "cls", None) or getattr(callback, "view_class", None)


def test_every_api_throttle_keys_on_the_client_address():
    """A throttle that keys on DRF's get_ident would read the raw X-Forwarded-For header."""
    classes = list(api_settings.DEFAULT_THROTTLE_CLASSES)
    for view in filter(None, _views(get_resolver().url_patterns)):
        classes.extend(getattr(view, "throttle_classes", []) or [])
    assert any(issubclass(c, throttles.ClientAddressThrottle) for c in classes), "no throttled view found"
    wrong = {c.__qualname__ for c in classes if not issubclass(c, throttles.ClientAddressThrottle)}
    assert not wrong, f"throttles keyed on DRF's get_ident: {wrong}"
