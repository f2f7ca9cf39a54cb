"""DRF throttles keyed on the real client address.

DRF's own `get_ident` uses the raw X-Forwarded-For header when NUM_PROXIES is unset, so a
client that sends a new header each time gets a new bucket each time. These key on
request_context.client_ip instead, which believes forwarding headers only from trusted proxies.
Every throttle the API uses must derive from ClientAddressThrottle (a test enforces it).
"""
from rest_framework import throttling

from apps.core import request_context


class ClientAddressThrottle:
    def get_ident(self, request):
        return request_context.client_ip(request.META) or "unknown"


class AnonRateThrottle(ClientAddressThrottle, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(ClientAddressThrottle, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(ClientAddressThrottle, throttling.ScopedRateThrottle):
    pass
