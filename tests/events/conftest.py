"""Events test helpers: a node with GPUs fed through the real ingest, and Celery run eagerly
(tasks execute in the test's process, retries included, countdowns ignored)."""
from __future__ import annotations

import pytest

from tests.gpus.conftest import inventory_item, record


@pytest.fixture(autouse=True)
def _seed_alert_rules(alert_defaults):
    """Every events test sees the seed's default alert rules, whatever ran before it."""


@pytest.fixture
def eager_celery():
    from aimatrix.celery import app

    before = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture
def gpu_node(root):
    from apps.nodes import services as nodes

    return nodes.create_node(root, name="gpu-node", address="10.0.0.50", labels=["rack-a"])


@pytest.fixture
def two_gpus(gpu_node):
    from apps.gpus.ingest import ingest

    ingest(gpu_node, record(inventory=[inventory_item(i) for i in range(2)]), source="agent")
    return gpu_node
