"""Request id + client IP for audit entries, and request counts for /metrics."""
import re

from . import metrics, request_context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        token = request_context.activate(
            incoming if _REQUEST_ID.match(incoming) else None,
            request_context.client_ip(request.META),
        )
        request.request_id = request_context.current().request_id
        try:
            response = self.get_response(request)
        finally:
            request_context.deactivate(token)
        response["X-Request-ID"] = request.request_id
        metrics.count_request(request, response)
        return response
