"""DRF throttles keyed on the real client address, failing safe when their cache is down.

DRF's own `get_ident` uses the raw X-Forwarded-For header when NUM_PROXIES is unset, so a
client that sends a new header each time gets a new bucket each time. These key on
request_context.client_ip instead, which believes forwarding headers only from trusted proxies.
Every throttle the API uses must derive from ClientAddressThrottle (a test enforces it).

The counters live in the shared cache (Redis). While it does not answer, a throttle can neither
count nor let requests through uncounted (that would lift the limit exactly when something is
wrong), so the request is refused with 503, a JSON reason and Retry-After, instead of the
cache's exception turning into an HTML 500.
"""
import logging

import redis
from rest_framework import status, throttling
from rest_framework.exceptions import APIException

from apps.core import request_context

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5
_CACHE_ERRORS = (redis.RedisError, OSError)


class ThrottleUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "throttle_unavailable"

    def __init__(self, cause: Exception):
        super().__init__({"code": self.default_code,
                          "detail": "Rate limiting is unavailable: its cache (Redis) does not answer "
                                    f"({type(cause).__name__}). Try again in a few seconds."})
        self.wait = RETRY_AFTER_S  # DRF's handler turns it into Retry-After


class ClientAddressThrottle:
    def get_ident(self, request):
        return request_context.client_ip(request.META) or "unknown"

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except _CACHE_ERRORS as exc:
            log.warning("throttle %s refused %s: cache unavailable (%s)", type(self).__name__, request.path,
                        type(exc).__name__)
            raise ThrottleUnavailable(exc) from None


class AnonRateThrottle(ClientAddressThrottle, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(ClientAddressThrottle, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(ClientAddressThrottle, throttling.ScopedRateThrottle):
    pass
