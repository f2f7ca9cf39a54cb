"""Answers with parts already written as JSON text (by the database, say): rendered by DRF's
encoder around them, the texts spliced in unchanged, never parsed and encoded again."""
from __future__ import annotations

import re
import uuid

from django.http import HttpResponse
from rest_framework.renderers import JSONRenderer


_MARKER = re.compile(rb'"(raw-json-[0-9a-f]{32})"')


class RawJSON(str):
    """A value that is already the JSON text of itself."""


def _swap(value, texts: dict[str, str]):
    if isinstance(value, RawJSON):
        marker = f"raw-json-{uuid.uuid4().hex}"
        texts[marker] = value
        return marker
    if isinstance(value, dict):
        return {key: _swap(item, texts) for key, item in value.items()}
    if isinstance(value, list):
        return [_swap(item, texts) for item in value]
    return value


def render(answer) -> bytes:
    """`answer` as JSON bytes, each RawJSON inside it written as it is."""
    texts: dict[str, str] = {}
    skeleton = JSONRenderer().render(_swap(answer, texts))  # small: the markers stand for the texts
    if not texts:
        return skeleton
    def text(match):  # a stored string that only looks like a marker stays what it was
        found = texts.get(match.group(1).decode())
        return match.group(0) if found is None else found.encode()

    return _MARKER.sub(text, skeleton)


def response(answer, status: int = 200) -> HttpResponse:
    return HttpResponse(render(answer), status=status, content_type="application/json")
