"""The metrics alert rules can watch: a registry the apps that own the samples fill in their
AppConfig.ready() (the GPU app registers GPU temperature, utilization, memory use and power;
this app the job error rate, since jobs lie below it).

A source reads one rule's metric over a time window and answers one `Reading` per object
(a GPU, a node, or None for a fleet-wide rate) from one bounded, grouped query.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

from django.db.models import Q

from .models import AlertScope


@dataclass(frozen=True)
class Reading:
    key: Any                  # the object's primary key, or None for the fleet
    count: int                # samples (or finished jobs) in the window
    low: float | None
    high: float | None
    first_ts: dt.datetime | None = None


@dataclass(frozen=True)
class MetricSource:
    name: str
    label: str
    unit: str
    read: Callable[[Any, dt.datetime, dt.datetime], list[Reading]]
    load: Callable[[list], dict] = field(default=lambda keys: {})  # {pk: object} for alert rows
    rate: bool = False  # computed over the rule's window_seconds; for_seconds does not apply


_SOURCES: dict[str, MetricSource] = {}


def register(source: MetricSource) -> MetricSource:
    _SOURCES[source.name] = source
    return source


def get(name: str) -> MetricSource | None:
    return _SOURCES.get(name)


def choices() -> list[tuple[str, str]]:
    return sorted((s.name, f"{s.label} ({s.unit})") for s in _SOURCES.values())


def scope_q(rule, node_path: str, labels_paths: tuple[str, ...] = ()) -> Q:
    """The rule's scope as a filter on rows that reach a node by `node_path` ("gpu__node")."""
    if rule.scope == AlertScope.NODE:
        return Q(**{f"{node_path}__name": rule.scope_value})
    if rule.scope == AlertScope.LABEL:
        q = Q(**{f"{node_path}__labels__contains": [rule.scope_value]})
        for path in labels_paths:
            q |= Q(**{f"{path}__contains": [rule.scope_value]})
        return q
    if rule.scope == AlertScope.PROJECT:
        return Q(**{f"{node_path}__project_id": rule.project_id})
    return Q()
