"""Prometheus metrics at /metrics.

Request counts are kept per web process, here. Every other figure comes from a collector that
its app registers in `AppConfig.ready()` (core imports no higher app): a collector reads the
database at scrape time, so its figures are right whatever process did the work.

    metrics.register_collector("jobs", JobCollector())
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

REGISTRY = CollectorRegistry(auto_describe=False)  # describing would collect, and collecting queries the database

REQUESTS = Counter(
    "aimatrix_http_requests", "HTTP requests answered by this web process",
    ["method", "status"], registry=REGISTRY,
)

_COLLECTORS: dict[str, object] = {}


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


def render() -> bytes:
    return generate_latest(REGISTRY)
