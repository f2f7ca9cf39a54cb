"""Global search: a registry of searchable models that each app fills in its `AppConfig.ready()`.

Core imports no higher app, so an app registers its own models with the fields a search matches,
the rows the user may see (its services' visibility function, so search never shows more than
the app's own list page) and the link to an object:

    search.register(Node, label="Nodes", fields=("name", "address"),
                    visible=services.visible_nodes, url=lambda n: reverse("nodes:detail", args=[n.pk]))

Only the registered fields are matched and shown (a secret registers its name, never its value).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from django.db.models import Model, Q, QuerySet


@dataclass(frozen=True)
class Searchable:
    model: type[Model]
    label: str
    fields: tuple[str, ...]
    visible: Callable[[object], QuerySet]  # visible(user) -> the rows this user may see
    url: Callable[[Model], str]
    more: Callable[[str], str] | None = None  # more(text) -> the app's list filtered by the text


@dataclass(frozen=True)
class Hit:
    label: str   # the model's group, e.g. "Nodes"
    text: str    # str(obj)
    url: str


@dataclass(frozen=True)
class Group:
    label: str
    hits: list[Hit]
    cut: bool             # more rows matched than shown
    more_url: str | None  # set when cut and the app has a list filtered by text


MAX_QUERY_LENGTH = 100  # longer texts are refused (400) by the search page and API

_SEARCHABLES: dict[str, Searchable] = {}


def register(model: type[Model], *, fields, visible: Callable, url: Callable, label: str | None = None,
             more: Callable[[str], str] | None = None) -> None:
    """Add (or, when an app's ready() runs again, replace) a model; keyed by its label. `more`, where
    the app's list page filters by text, gives that list's URL for a search text."""
    fields = tuple(fields)
    if not fields:
        raise ValueError(f"search: {model._meta.label} registers no fields")
    for name in fields:
        model._meta.get_field(name.split("__")[0])  # a typo fails at start-up, not at search time
    _SEARCHABLES[model._meta.label] = Searchable(
        model, label or str(model._meta.verbose_name_plural).capitalize(), fields, visible, url, more)


def searchables() -> list[Searchable]:
    return sorted(_SEARCHABLES.values(), key=lambda s: s.label)


def clean(text: str | None) -> str:
    return (text or "").replace("\x00", "").strip()  # PostgreSQL text cannot hold NUL


def search_groups(user, text: str, *, per_model: int = 5) -> list[Group]:
    """Up to `per_model` matches per registered model among the rows the user may see, grouped by
    model (groups with no match left out): one query per model, whatever the number of rows."""
    text = clean(text)
    if not text:
        return []
    groups = []
    for entry in searchables():
        condition = Q()
        for name in entry.fields:
            condition |= Q(**{f"{name}__icontains": text})
        # One row beyond the page tells whether there are more, in the same query.
        rows = list(entry.visible(user).filter(condition).order_by("-pk")[:per_model + 1])
        if not rows:
            continue
        cut = len(rows) > per_model
        hits = [Hit(entry.label, str(obj), entry.url(obj)) for obj in rows[:per_model]]
        groups.append(Group(entry.label, hits, cut, entry.more(text) if cut and entry.more else None))
    return groups


def search(user, text: str, *, per_model: int = 5) -> list[Hit]:
    """The hits of `search_groups`, flat."""
    return [hit for group in search_groups(user, text, per_model=per_model) for hit in group.hits]
