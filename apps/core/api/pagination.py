"""Limit/offset pagination with bounds: a limit or offset out of range is a 400 naming it.

DRF's own class accepts any integer, and `?limit=99999999999999999999` reached PostgreSQL as a
LIMIT it cannot represent (a 500); silently clamping would hide the mistake from the client.
"""
from __future__ import annotations

from django.conf import settings
from rest_framework.pagination import LimitOffsetPagination

from .params import int_query_param


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = settings.API_MAX_PAGE_SIZE
    max_offset = settings.API_MAX_OFFSET

    def get_limit(self, request):
        return int_query_param(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request):
        return int_query_param(request, self.offset_query_param, 0, 0, self.max_offset)
