"""Middleware that refuses input no view should ever see.

RequestSizeMiddleware: a body declared larger than settings.MAX_REQUEST_BODY_BYTES is refused
with 413 before anything reads it (Django's CSRF check would otherwise parse a multipart body,
spooling its files to disk, before any view runs). The API parsers also stop reading at the
limit, for bodies without a Content-Length.

RejectNulMiddleware: URLs whose path or query string holds a NUL character are refused with 400.

PostgreSQL cannot store or compare text with NUL, so `/api/v1/nodes/?search=a%00` or a name in
the path with `%00` ended in a database error (500). No page or endpoint needs NUL in a URL, so
it is refused once, here, naming the parameter. (Bodies are checked by the API parsers in
apps.core.api.parsers; form fields by Django's own CharField.)
"""
from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse

NUL = "\x00"
MESSAGE = "NUL (%00) characters are not allowed."


def nul_field(request) -> str | None:
    if NUL in request.path_info:
        return "path"
    for name, values in request.GET.lists():
        if NUL in name:
            return name.replace(NUL, "%00")
        if any(NUL in value for value in values):
            return name
    return None


class RejectNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        field = nul_field(request)
        if field is None:
            return self.get_response(request)
        if request.path_info.startswith("/api/"):
            return JsonResponse({field: [MESSAGE]}, status=400)
        return HttpResponseBadRequest(f"{field}: {MESSAGE}", content_type="text/plain")


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class RequestSizeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.MAX_REQUEST_BODY_BYTES
        if _declared_length(request) <= limit:
            return self.get_response(request)
        message = f"The request body is larger than {limit} bytes."
        if request.path_info.startswith("/api/"):
            return JsonResponse({"detail": message}, status=413)
        return HttpResponse(message, status=413, content_type="text/plain")
