"""The base table of every list page: sortable columns, a bounded page size, per-user column choice
and a CSV export of the whole filtered list.

Each app's list defines a `KitTable` subclass; its `preference_key` names it for saved column
choices (the registry below lets the save view check a posted name against real tables).
"""
from __future__ import annotations

import csv

import django_tables2 as tables
from django.core.paginator import EmptyPage, PageNotAnInteger
from django.http import StreamingHttpResponse
from django.utils.html import format_html

from .templatetags.readable import when

PAGE_SIZES = (25, 50, 100, 250)
DEFAULT_PAGE_SIZE = 50
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_registry: dict[str, type["KitTable"]] = {}


def table_for(key: str) -> type["KitTable"] | None:
    return _registry.get(key)


class KitTable(tables.Table):
    """Use instead of tables.Table. Class attributes:
    preference_key  unique name under which users' column choices are kept (default: app.Class)
    locked_columns  columns a user cannot hide (the object's name, the row selector)
    """

    preference_key = ""
    locked_columns: tuple[str, ...] = ()
    kit_page_sizes = PAGE_SIZES

    class Meta:
        template_name = "kit/table.html"
        attrs = {"class": "table table-sm table-hover align-middle kit-table"}
        per_page_field = "per_page"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.preference_key:
            cls.preference_key = f"{cls.__module__.split('.')[1]}.{cls.__name__}"
        _registry[cls.preference_key] = cls

    @classmethod
    def hideable_columns(cls) -> list[tuple[str, str]]:
        """(name, header) of the columns a user may switch off."""
        return [(name, _sentence(str(column.verbose_name or name.replace("_", " "))))
                for name, column in cls.base_columns.items()
                if name not in cls.locked_columns and not getattr(column, "is_checkbox", False)]

    def configure(self, request, *, hidden=()):
        """Sorting and paging from the query string (unknown sort keys are ignored by tables2;
        the page size only takes the offered values), then the user's hidden columns."""
        self.request = request
        order_by = request.GET.getlist(self.prefixed_order_by_field)
        if order_by:
            self.order_by = order_by
        try:
            per_page = int(request.GET.get(self.prefixed_per_page_field, DEFAULT_PAGE_SIZE))
        except ValueError:
            per_page = DEFAULT_PAGE_SIZE
        per_page = per_page if per_page in PAGE_SIZES else DEFAULT_PAGE_SIZE
        try:
            self.paginate(page=request.GET.get(self.prefixed_page_field, 1), per_page=per_page)
        except PageNotAnInteger:
            self.paginate(page=1, per_page=per_page)
        except EmptyPage:
            self.paginate(page=self.paginator.num_pages, per_page=per_page)
        for name in hidden:
            if name in self.columns and name not in self.locked_columns:
                self.columns.hide(name)
        return self


class TimeColumn(tables.Column):
    """A date-time: shown as the kit shows times (one format, time zone, "3 min ago"), exported as
    ISO 8601. `never` is what an empty value reads (default "—")."""

    def __init__(self, *args, never: str = "—", **kwargs):
        super().__init__(*args, **kwargs)
        self.never = never

    def render(self, value):
        return when(value, self.never)

    def value(self, value):
        return value.isoformat() if value else ""


class SelectColumn(tables.CheckBoxColumn):
    """The row selector of bulk actions: posts `pk`, labelled for screen readers, never exported."""

    is_checkbox = True

    def __init__(self, **kwargs):
        kwargs.setdefault("accessor", "pk")
        kwargs.setdefault("exclude_from_export", True)
        kwargs.setdefault("orderable", False)
        kwargs.setdefault("attrs", {"input": {"name": "pk", "class": "form-check-input kit-select"},
                                    "th__input": {"class": "form-check-input kit-select-all",
                                                  "aria-label": "Select all rows"}})
        super().__init__(**kwargs)

    def render(self, value, bound_column, record):
        return format_html('<input type="checkbox" name="pk" value="{}" class="form-check-input kit-select" '
                           'aria-label="Select {}">', value, record)


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:]


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class _Echo:
    def write(self, value):
        return value


def csv_response(table: KitTable, filename: str) -> StreamingHttpResponse:
    """Every row of the (filtered, sorted) table as CSV, streamed; cells that a spreadsheet would
    run as a formula are prefixed with a quote."""
    writer = csv.writer(_Echo())
    rows = (writer.writerow([_cell(value) for value in row]) for row in table.as_values())
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
