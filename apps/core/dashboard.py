"""The dashboard's panels: a registry that each app fills in its `AppConfig.ready()`.

Core imports no higher app, so it cannot count jobs or nodes itself; an app registers a panel
(a template and a function that computes its context for the user) and the dashboard renders the
panels in order:

    dashboard.register_panel("jobs.counts", template="jobs/_dashboard_counts.html",
                             context=job_counts, order=10)

The context function sees only what the user may see (it filters through the app's services).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


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
