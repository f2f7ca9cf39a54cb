"""Request-body parsers with limits: every API body is read through one of these.

- size: a body over settings.MAX_REQUEST_BODY_BYTES is refused with 413 before it is read (by
  its Content-Length) or as soon as reading passes the limit (chunked bodies);
- shape: a JSON body is one object (every endpoint takes named fields), nested at most
  settings.API_MAX_JSON_DEPTH levels; anything else is a 400 instead of a RecursionError or a
  `{**list}` TypeError in a view;
- text: NUL characters, which PostgreSQL refuses in text columns, are a 400 naming the field.
"""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from rest_framework import parsers
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.settings import api_settings

from apps.core import safe_json


class RequestTooLarge(APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def body_limit() -> int:
    return settings.MAX_REQUEST_BODY_BYTES


def _declared_length(parser_context) -> int:
    request = (parser_context or {}).get("request")
    meta = getattr(request, "META", {})
    try:
        return int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def read_capped(stream, parser_context) -> bytes:
    """The whole body, or RequestTooLarge without reading more than the limit (+1 byte)."""
    limit = body_limit()
    too_large = RequestTooLarge(f"The request body is larger than {limit} bytes.")
    if _declared_length(parser_context) > limit:
        raise too_large
    body = stream.read(limit + 1) if stream is not None else b""
    if len(body) > limit:
        raise too_large
    return body


NUL_MESSAGE = "Text may not contain NUL (\\u0000) characters."


def reject_nul_fields(data) -> None:
    """400 naming the first form field whose name or value holds a NUL character."""
    for key, values in data.lists():
        if "\x00" in key or any("\x00" in value for value in values if isinstance(value, str)):
            raise ValidationError({key.replace("\x00", "\\0"): [NUL_MESSAGE]})


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body = read_capped(stream, parser_context)
        try:
            text = body.decode(parsers.get_encoding(parser_context or {}))
        except (UnicodeDecodeError, LookupError):
            raise ParseError("JSON parse error - the body is not valid UTF-8.") from None
        try:
            data = safe_json.loads(text, max_bytes=body_limit(), max_depth=settings.API_MAX_JSON_DEPTH)
        except safe_json.JsonRejected as exc:
            if exc.path:
                raise ValidationError({exc.path: [NUL_MESSAGE]}) from None
            raise ParseError(f"JSON parse error - {exc}") from None
        if not isinstance(data, dict):
            raise ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [
                f"Expected a JSON object with named fields, got {type(data).__name__}."]})
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        from django.http import QueryDict

        body = read_capped(stream, parser_context)
        try:
            data = QueryDict(body, encoding=parsers.get_encoding(parser_context or {}))
        except TooManyFieldsSent as exc:
            raise ParseError(str(exc)) from None
        reject_nul_fields(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        if _declared_length(parser_context) > body_limit():
            raise RequestTooLarge(f"The request body is larger than {body_limit()} bytes.")
        try:
            result = super().parse(stream, media_type, parser_context)
        except RequestDataTooBig:
            raise RequestTooLarge(f"The form fields are larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.") \
                from None
        except TooManyFieldsSent as exc:
            raise ParseError(str(exc)) from None
        reject_nul_fields(result.data)
        return result
