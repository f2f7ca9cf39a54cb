"""Active filters as chips: one per value, each with a link that drops just that value."""
from __future__ import annotations

from django import forms

EMPTY = (None, "", [], ())


def _display(field: forms.Field, value) -> str:
    if isinstance(field, forms.NullBooleanField) or isinstance(value, bool):
        return {True: "yes", False: "no"}.get(value, str(value))
    choices = getattr(field, "choices", None)
    if choices:
        for key, label in choices:
            if str(key) == str(value):
                return str(label)
    return str(value)


def active_filters(filterset, query) -> list[dict]:
    """`query` is the request's QueryDict. Filters the form refused make no chip (they do not apply)."""
    form = filterset.form
    if not form.is_bound or not form.is_valid():
        return []
    chips = []
    for name, field in form.fields.items():
        if form.cleaned_data.get(name) in EMPTY:
            continue
        for raw in query.getlist(name):
            if raw in ("", "unknown"):
                continue
            rest = query.copy()
            rest.setlist(name, [v for v in query.getlist(name) if v != raw])
            rest.pop("page", None)
            value = form.cleaned_data[name]
            shown = _display(field, value if isinstance(value, bool) else raw)
            # The bound field's label, as the filter panel shows it (a filter without its own label
            # gets the field name made readable).
            chips.append({"name": name, "label": str(form[name].label), "value": shown,
                          "remove_url": "?" + rest.urlencode()})
    return chips
