"""Query parameters read with bounds: a value that is not an integer, or is out of range, is a
400 naming the parameter (never a 500 from the database, never a silent clamp)."""
from __future__ import annotations

from rest_framework.exceptions import ValidationError


def int_query_param(request, name: str, default, minimum: int | None = None, maximum: int | None = None):
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: [f"Must be an integer, got {raw[:40]!r}."]}) from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValidationError({name: [f"Must be between {minimum} and {maximum}."]})
    return value
