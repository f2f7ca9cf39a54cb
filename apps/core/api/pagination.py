"""Limit/offset pagination with bounds: a limit or offset out of range is a 400 naming it.

DRF's own class accepts any integer, and `?limit=99999999999999999999` reached PostgreSQL as a
LIMIT it cannot represent (a 500); silently clamping would hide the mistake from the client.
"""
from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = settings.API_MAX_PAGE_SIZE
    max_offset = settings.API_MAX_OFFSET

    def get_limit(self, request):
        return self._bounded(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request):
        return self._bounded(request, self.offset_query_param, 0, 0, self.max_offset)

    @staticmethod
    def _bounded(request, name, default, minimum, maximum):
        raw = request.query_params.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ValidationError({name: [f"Must be an integer, got {raw[:40]!r}."]}) from None
        if not minimum <= value <= maximum:
            raise ValidationError({name: [f"Must be between {minimum} and {maximum}."]})
        return value

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, self.max_offset)}
        for parameter in parameters:
            if parameter["name"] in bounds:
                low, high = bounds[parameter["name"]]
                parameter["schema"] = {**parameter["schema"], "minimum": low, "maximum": high}
        return parameters
