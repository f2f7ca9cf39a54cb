"""The base FilterSet of every app: values the database cannot take are form errors, not 500s.

django-filter hands a parsed value straight to the query. A date-time such as
`2026-01-01T00:00:00+20:00` is valid ISO 8601 and valid Python, but PostgreSQL refuses
time-zone offsets beyond +-15:59 at query time. Here the filter form checks every cleaned
date-time, so the API answers 400 naming the filter and pages ignore the bad filter.
(NUL characters are refused by Django's CharField and, for the whole query string, by
apps.core.input_guard.)
"""
from __future__ import annotations

from datetime import datetime, timedelta

import django_filters
from django import forms

MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)
OFFSET_MESSAGE = "The time-zone offset must be between -15:59 and +15:59."


def _datetimes(value):
    if isinstance(value, datetime):
        yield value
    elif isinstance(value, slice):  # range filters
        yield from (v for v in (value.start, value.stop) if isinstance(v, datetime))
    elif isinstance(value, (list, tuple)):
        yield from (v for v in value if isinstance(v, datetime))


def offset_out_of_range(value: datetime) -> bool:
    offset = value.utcoffset()
    return offset is not None and abs(offset) > MAX_UTC_OFFSET


ANY_CHOICES = (("unknown", "Any"), ("true", "Yes"), ("false", "No"))


class BoundedValuesFormMixin:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            _style(field.widget)

    def clean(self):
        cleaned = super().clean()
        for name, value in list(cleaned.items()):
            if any(offset_out_of_range(v) for v in _datetimes(value)):
                self.add_error(name, OFFSET_MESSAGE)
        return self.cleaned_data


def _style(widget) -> None:
    """Bootstrap classes for the filter panel; a yes/no filter left alone reads "Any", not "Unknown"."""
    if isinstance(widget, forms.NullBooleanSelect):
        widget.choices = ANY_CHOICES
    if isinstance(widget, forms.CheckboxInput):
        css = "form-check-input"
    elif isinstance(widget, forms.Select):
        css = "form-select form-select-sm"
    else:
        css = "form-control form-control-sm"
    widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


class FilterSet(django_filters.FilterSet):
    """Use instead of django_filters.FilterSet."""

    def get_form_class(self):
        form_class = super().get_form_class()
        return type(form_class.__name__, (BoundedValuesFormMixin, form_class), {})
