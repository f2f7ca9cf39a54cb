"""Prometheus metrics at /metrics.

Request counts are kept per web process, here. Every other figure comes from a collector that
its app registers in `AppConfig.ready()` (core imports no higher app): a collector reads the
database at scrape time, so its figures are right whatever process did the work.

    metrics.register_collector("jobs", JobCollector())

A family with a series per object of a large fleet (one per GPU) may instead register a text
source: a function that writes Prometheus text format itself, appended after the registry's
output. prometheus_client formats about 150,000 samples a second; 10,000 GPUs with ten gauges
each would spend most of a scrape there.

    metrics.register_text_source("gpus", render_gpu_gauges)
"""
from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, generate_latest

REGISTRY = CollectorRegistry(auto_describe=False)  # describing would collect, and collecting queries the database

REQUESTS = Counter(
    "aimatrix_http_requests", "HTTP requests answered by this web process",
    ["method", "status"], registry=REGISTRY,
)

_COLLECTORS: dict[str, object] = {}
_TEXT_SOURCES: dict[str, Callable[[], str]] = {}


def count_request(request, response) -> None:
    REQUESTS.labels(request.method, str(response.status_code)).inc()


def register_collector(name: str, collector) -> None:
    """Add a collector (an object with `collect()` yielding metric families) under a unique name;
    registering the name again replaces it (an app's ready() may run more than once in tests)."""
    previous = _COLLECTORS.pop(name, None)
    if previous is not None:
        REGISTRY.unregister(previous)
    REGISTRY.register(collector)
    _COLLECTORS[name] = collector


def register_text_source(name: str, render_text: Callable[[], str]) -> None:
    """Add (or replace) a function returning whole metric families in Prometheus text format
    (# HELP, # TYPE and sample lines, names not used by any collector)."""
    _TEXT_SOURCES[name] = render_text


def render() -> bytes:
    text = "".join(source() for source in _TEXT_SOURCES.values())
    return generate_latest(REGISTRY) + text.encode()
