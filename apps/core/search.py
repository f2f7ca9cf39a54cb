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


@dataclass(frozen=True)
class Hit:
    label: str   # the model's group, e.g. "Nodes"
    text: str    # str(obj)
    url: str


_SEARCHABLES: dict[str, Searchable] = {}


def register(model: type[Model], *, fields, visible: Callable, url: Callable, label: str | None = None) -> None:
    """Add (or, when an app's ready() runs again, replace) a model; keyed by its label."""
    fields = tuple(fields)
    if not fields:
        raise ValueError(f"search: {model._meta.label} registers no fields")
    for name in fields:
        model._meta.get_field(name.split("__")[0])  # a typo fails at start-up, not at search time
    _SEARCHABLES[model._meta.label] = Searchable(
        model, label or str(model._meta.verbose_name_plural).capitalize(), fields, visible, url)


def searchables() -> list[Searchable]:
    return sorted(_SEARCHABLES.values(), key=lambda s: s.label)


def search(user, text: str, *, per_model: int = 5) -> list[Hit]:
    """Up to `per_model` matches per registered model among the rows the user may see: one
    query per model, whatever the number of rows."""
    text = (text or "").replace("\x00", "").strip()  # PostgreSQL text cannot hold NUL
    if not text:
        return []
    hits = []
    for entry in searchables():
        condition = Q()
        for name in entry.fields:
            condition |= Q(**{f"{name}__icontains": text})
        for obj in entry.visible(user).filter(condition).order_by("-pk")[:per_model]:
            hits.append(Hit(entry.label, str(obj), entry.url(obj)))
    return hits
