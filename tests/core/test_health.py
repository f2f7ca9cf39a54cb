"""GET /api/health against real daphne: 200 when the database, Redis and a worker answer,
503 naming the failing check otherwise."""
import json
import os
import urllib.error
import urllib.request

import pytest

from .. import processes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=15) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_health_ok_with_database_redis_and_worker(live_worker, live_server_url):
    status, body = _get(live_server_url + "/api/health")
    assert status == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "worker"}
    assert all(check["ok"] for check in body["checks"].values())


def _daphne_with(redis_url):
    return processes.start_daphne("health-daphne", REDIS_URL=redis_url)


def test_health_503_when_redis_is_down(live_worker):
    dead = f"redis://127.0.0.1:{processes.free_port()}/0"
    proc, url = _daphne_with(dead)
    try:
        status, body = _get(url + "/api/health")
    finally:
        proc.stop()
    assert status == 503
    assert "redis" in body["failing"]
    assert body["checks"]["database"]["ok"] is True
    assert "Connection" in body["checks"]["redis"]["message"] or "refused" in body["checks"]["redis"]["message"]


def test_health_503_when_no_worker_answers(live_worker):
    # Same Redis, another database number: no worker listens there.
    base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    proc, url = _daphne_with(f"{base}/9")
    try:
        status, body = _get(url + "/api/health")
    finally:
        proc.stop()
    assert status == 503
    assert body["failing"] == ["worker"]
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["worker"]["message"] == "no Celery worker answered"
