"""GET /api/health against real daphne: 200 when the database, Redis and a worker for every
queue answer, 503 naming the failing check (and the queues without a consumer) otherwise."""
import json
import os
import socket
import urllib.error
import urllib.request
import uuid

import pytest
from celery import Celery

from apps.jobs.models import Job
from devtools import processes as base

from .. import processes
from ..conftest import wait_for, wait_for_job

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
    assert set(body["checks"]) == {"database", "redis", "worker", "queues"}
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
    assert body["failing"] == ["worker", "queues"]
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["worker"]["message"] == "no Celery worker answered"
    assert "default, ssh, bmc, slurm, telemetry" in body["checks"]["queues"]["message"]


def test_worker_without_queue_list_is_named_by_health_and_selfcheck(live_worker, make_user):
    """`celery -A aimatrix worker` without the Procfile's -Q consumes only the default queue: health
    and the self-check say which queues nobody consumes instead of staying green."""
    url = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/8"  # away from the suite's worker
    argv = [str(base.BIN / "celery"), "-A", "aimatrix", "worker", "-n", "plain@%h", "--without-gossip",
            "--without-mingle", "--concurrency=1", "--loglevel=INFO"]
    worker = base.Process("plain-worker", argv, processes.child_env(REDIS_URL=url), processes.LOG_DIR)
    client = Celery("health-client", broker=url, set_as_current=False)
    hostname = f"plain@{socket.gethostname()}"
    daphne = None
    try:
        wait_for(lambda: any(hostname in r for r in client.control.ping(destination=[hostname], timeout=0.5) or []),
                 timeout=40, message="the plain worker")
        daphne, server = _daphne_with(url)
        status, body = _get(server + "/api/health")
        user = make_user("ops", "jobs.run_selfcheck")
        job = Job.objects.create(kind="core.selfcheck", requester=user, celery_task_id=uuid.uuid4().hex)
        client.send_task("apps.jobs.tasks.run_job", args=[job.pk], queue="default", task_id=job.celery_task_id)
        job = wait_for_job(job.pk, timeout=60)
    finally:
        if daphne:
            daphne.stop()
        client.close()
        worker.stop()
    assert status == 503, body
    assert body["failing"] == ["queues"]
    assert body["checks"]["worker"]["ok"] is True
    assert body["checks"]["queues"]["message"].startswith("no worker consumes the queue(s): ssh, bmc, slurm, telemetry")
    assert job.status == "failed" and job.error == "Self-check failed: queues."
    line = job.events.get(kind="log", data__check="queues")
    assert line.message.startswith("FAIL A worker for every queue: no worker consumes the queue(s): ssh, bmc")
