"""Pages of API lists: limit/offset by default, keyset (cursor) pages with `?cursor=`.

Bounds: a limit or offset out of range is a 400 naming it. DRF's own class accepts any integer,
and `?limit=99999999999999999999` reached PostgreSQL as a LIMIT it cannot represent (a 500);
silently clamping would hide the mistake from the client, so a limit above API_MAX_PAGE_SIZE is
refused, not clamped.

Keyset pages: OFFSET makes PostgreSQL read and throw away every row before the page, so page
9,000 of a 10,000-row list costs the whole list, and rows inserted meanwhile shift what a page
holds. `?cursor=` (empty: the first page) switches to DRF's CursorPagination over the viewset's
`cursor_ordering`, a unique key: each page is `WHERE key > last LIMIT n`, no COUNT, and a walk
sees every row that existed when it began exactly once.
"""
from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, LimitOffsetPagination

from .params import int_query_param

CURSOR_PARAM = "cursor"


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = settings.API_MAX_PAGE_SIZE
    max_offset = settings.API_MAX_OFFSET

    def get_limit(self, request):
        return int_query_param(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request):
        return int_query_param(request, self.offset_query_param, 0, 0, self.max_offset)


class KeysetPagination(CursorPagination):
    """Cursor pages over a unique ordering (`ordering`, or the view's `cursor_ordering`); the page
    size is `limit`, bounded like limit/offset pages. `?ordering=` cannot be combined with it."""

    cursor_query_param = CURSOR_PARAM
    page_size_query_param = "limit"
    max_page_size = settings.API_MAX_PAGE_SIZE

    def __init__(self, ordering=None):
        self.fixed_ordering = ordering

    def get_page_size(self, request):
        return int_query_param(request, self.page_size_query_param, settings.REST_FRAMEWORK["PAGE_SIZE"], 1,
                               self.max_page_size)

    def get_ordering(self, request, queryset, view):
        ordering = self.fixed_ordering or getattr(view, "cursor_ordering", None) or ("-pk",)
        if request.query_params.get("ordering"):
            raise ValidationError({"ordering": [
                f"Cursor pages are ordered by {', '.join(ordering)}; leave out ordering, or page with "
                f"limit/offset to sort by another field."]})
        return tuple(ordering)

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            message = "Invalid cursor: follow a page's next or previous link, or send it empty for the first page."
            raise ValidationError({self.cursor_query_param: [message]}) from None


class ListPagination(BoundedLimitOffsetPagination):
    """The default for every list: limit/offset (with a total count), or keyset pages when the
    request carries `cursor` (present, even empty)."""

    def paginate_queryset(self, queryset, request, view=None):
        self.keyset = KeysetPagination() if CURSOR_PARAM in request.query_params else None
        if self.keyset is not None:
            if self.offset_query_param in request.query_params:
                raise ValidationError({self.offset_query_param: ["Cursor pages have no offset: follow `next`."]})
            return self.keyset.paginate_queryset(queryset, request, view)
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        if self.keyset is not None:
            return self.keyset.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_paginated_response_schema(self, schema):
        shape = super().get_paginated_response_schema(schema)
        shape["required"] = ["results"]
        shape["properties"]["count"]["description"] = "Total rows; absent on cursor pages."
        return shape

    def get_schema_operation_parameters(self, view):
        ordering = ", ".join(getattr(view, "cursor_ordering", None) or ("-pk",))
        return super().get_schema_operation_parameters(view) + [{
            "name": CURSOR_PARAM, "required": False, "in": "query",
            "description": (f"Keyset pages ordered by {ordering}: send it empty for the first page, then follow "
                            "`next`. No count, no OFFSET: deep pages cost what the first does. Not combinable "
                            "with `offset` or `ordering`."),
            "schema": {"type": "string"},
        }]
