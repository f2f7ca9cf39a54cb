"""The dashboard's panels: a registry that each app fills in its `AppConfig.ready()`.

Core imports no higher app, so it cannot count jobs or nodes itself; an app registers a panel
(a template and a function that computes its context for the user) and the dashboard renders the
panels in order:

    dashboard.register_panel("jobs.counts", template="jobs/_dashboard_counts.html",
                             context=job_counts, order=10)

The context function sees only what the user may see (it filters through the app's services).

Where a panel goes is its `order` (lower first); `PanelOrder` names the bands so that later apps
(GPUs, clusters, allocations) slot in without reshuffling the others, e.g. `order=PanelOrder.CAPACITY + 5`.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Callable


class PanelOrder(IntEnum):
    """The dashboard's bands, top to bottom; a panel takes a band's value plus 0..9."""

    SUMMARY = 10     # headline counts (jobs, nodes)
    FLEET = 20       # the nodes: lifecycle and power state, reachability
    CAPACITY = 30    # reserved: GPUs, clusters, allocations and quotas
    ACTIVITY = 40    # charts over time (jobs by status, 24 h)
    OPERATIONS = 50  # one-click actions
    ATTENTION = 60   # what needs someone: failures, pending host keys, BMC poll errors
    RECENT = 90      # recent lists


@dataclass(frozen=True)
class Panel:
    name: str
    template: str
    context: Callable[[object], dict]  # context(user) -> the panel template's `panel` variable
    order: int = 100


@dataclass(frozen=True)
class RenderedPanel:
    name: str
    template: str
    context: dict


_PANELS: dict[str, Panel] = {}


def register_panel(name: str, *, template: str, context: Callable[[object], dict], order: int = 100) -> None:
    """Add (or, when an app's ready() runs again, replace) a panel under a unique name."""
    _PANELS[name] = Panel(name, template, context, order)


def panels() -> list[Panel]:
    return sorted(_PANELS.values(), key=lambda p: (p.order, p.name))


def panels_for(user) -> list[RenderedPanel]:
    """Each panel with its context computed for this user; a panel that returns None is left out."""
    rendered = []
    for panel in panels():
        context = panel.context(user)
        if context is not None:
            rendered.append(RenderedPanel(panel.name, panel.template, context))
    return rendered
