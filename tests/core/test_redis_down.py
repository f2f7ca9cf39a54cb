"""Redis goes away and comes back under a real daphne: the redeem endpoint answers 503 with a JSON
reason (never an HTML 500) while it is down, and everything recovers without a restart: redeem
works again and a websocket connects at the first try.

The Redis here is the test's own (scripts/redis.sh on a free port), so stopping it disturbs
nothing else; daphne is started against it.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from apps.jobs.models import Job, JobEvent

from .. import processes
from ..wsclient import open_job_socket

ROOT = Path(__file__).resolve().parents[2]


class PrivateRedis:
    def __init__(self, directory: Path):
        self.env = dict(os.environ, REDIS_DIR=str(directory), REDIS_PORT=str(processes.free_port()))
        self.url = f"redis://127.0.0.1:{self.env['REDIS_PORT']}/0"

    def _run(self, action: str) -> None:
        subprocess.run([str(ROOT / "scripts" / "redis.sh"), action], env=self.env, check=True, cwd=ROOT,
                       capture_output=True, timeout=30)

    def start(self):
        self._run("start")

    def stop(self):
        self._run("stop")


@pytest.fixture
def redis_and_daphne(tmp_path):
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    daphne, url = processes.start_daphne(f"daphne-redis-down-{os.getpid()}", REDIS_URL=redis.url)
    daphne.log_path.write_bytes(b"")  # this run's lines only
    try:
        yield redis, url, daphne
    finally:
        daphne.stop()
        redis.stop()


def _redeem(url: str) -> requests.Response:
    return requests.post(f"{url}/api/v1/keyvault/redeem/", json={"token": "not-a-token", "timestamp": 0}, timeout=20)


def _a_job(user) -> Job:
    """A finished job with one stored event: a socket for it replays that event at once."""
    job = Job.objects.create(kind="core.pulse", requester=user, status="succeeded", event_seq=1)
    JobEvent.objects.create(job=job, seq=1, kind="status", message="succeeded", timestamp=timezone.now())
    return job


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_redis_down_gives_503_with_a_reason_and_everything_recovers(redis_and_daphne, make_user):
    redis, url, daphne = redis_and_daphne
    user = make_user("ops", superuser=True)
    job = _a_job(user)
    refused = _redeem(url)  # a bad token, refused by the endpoint itself
    assert refused.status_code in (400, 403) and refused.json()["code"] in ("invalid", "forged"), refused.text
    with open_job_socket(url, user, job.pk) as ws:  # the channel layer is connected and in use
        ws.recv(timeout=10)

    redis.stop()
    down = _redeem(url)
    assert down.status_code == 503, (down.status_code, down.text[:300], daphne.log_tail())
    assert down.headers["Content-Type"].startswith("application/json")
    body = down.json()
    assert body["code"] == "throttle_unavailable" and "Redis" in body["detail"], body
    assert down.headers.get("Retry-After")
    # A socket opened now is served from the database, and stays open through the outage.
    with open_job_socket(url, user, job.pk) as held:
        assert json.loads(held.recv(timeout=10))["job"] == job.pk
        time.sleep(1.5)  # its channel-layer read fails meanwhile (that used to crash the socket)

        redis.start()  # the same address again; nothing else is restarted
        back = _redeem(url)
        assert (back.status_code, back.json()) == (refused.status_code, refused.json()), back.text[:300]
        with open_job_socket(url, user, job.pk) as ws:  # the first handshake after the outage succeeds
            assert json.loads(ws.recv(timeout=10))["job"] == job.pk
        held.send(json.dumps({"action": "resync"}))  # the socket from the outage is still alive
        held.ping().wait(5)
    log = daphne.log_path.read_text(errors="replace")
    # Only the socket opened during the outage went without the live channel; the one after it joined.
    assert log.count("serving from the database") == 1, log
    assert "Traceback" not in daphne.log_path.read_text(errors="replace"), daphne.log_tail(200)


@pytest.mark.django_db
def test_every_throttle_fails_safe_when_its_cache_does_not_answer(settings):
    """In-process, against a port where nothing listens: the shared throttle base answers 503."""
    from rest_framework.test import APIClient

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{processes.free_port()}/0",
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    response = APIClient().post("/api/v1/keyvault/redeem/", {"token": "x", "timestamp": 0}, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "throttle_unavailable"
    assert response["Retry-After"] == "5"
