"""Who holds a GPU now. Higher apps register a source (clusters: running Slurm jobs; later GPU
allocations); the GPU list's `allocated` filter and the GPU page ask here, so the gpus app never
imports them (DESIGN.md: layering)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Holder:
    kind: str  # "slurm job", "allocation"...
    label: str  # e.g. "lab:42 train-llm (alice)"
    url: str = ""
    since: dt.datetime | None = None


# name -> function(gpu ids or None for all) -> {gpu id: [Holder]}
_SOURCES: dict[str, Callable[[list[int] | None], dict[int, list[Holder]]]] = {}


def register(name: str, source: Callable[[list[int] | None], dict[int, list[Holder]]]) -> None:
    _SOURCES[name] = source


def holders(gpu_ids: list[int] | None = None) -> dict[int, list[Holder]]:
    """{gpu id: holders} for the given GPUs (None: every held GPU)."""
    out: dict[int, list[Holder]] = {}
    for source in _SOURCES.values():
        for gpu_id, found in source(gpu_ids).items():
            out.setdefault(gpu_id, []).extend(found)
    return out


def held_ids() -> set[int]:
    return set(holders(None))
