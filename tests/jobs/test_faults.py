"""Fault tests against real processes: a Celery worker killed with SIGKILL while jobs run and wait,
Redis restarted in between (with and without its data), the reconciler running in a real beat.

Each test has a private Redis (scripts/redis.sh, own port and dir) so restarting or wiping it
touches nothing else of the session; workers and beat are real `celery` processes on the test
database. Short timings come from the environment: heartbeat every 0.5 s, timeout 3 s,
reconciler every 1 s with a 2 s grace.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid

import pytest
from celery import Celery

from apps.jobs import registry
from apps.jobs.models import EventKind, Job, JobEvent, JobStatus
from apps.jobs.tasks import run_job
from devtools import processes as base

from .. import processes
from ..conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]

QUEUE = "faults"
FAST = {
    "AIMATRIX_JOB_HEARTBEAT_TIMEOUT": "3",
    "AIMATRIX_JOB_RECONCILE_INTERVAL": "1",
    "AIMATRIX_JOB_RECONCILE_GRACE": "2",
    "AIMATRIX_JOB_RECONCILE_INSPECT_TIMEOUT": "1",
}


class PrivateRedis:
    def __init__(self, directory):
        self.env = {**os.environ, "REDIS_DIR": str(directory), "REDIS_PORT": str(processes.free_port())}
        self.url = f"redis://127.0.0.1:{self.env['REDIS_PORT']}/0"
        self.dir = directory
        self.app = None

    def _script(self, action):
        subprocess.run([str(base.ROOT / "scripts" / "redis.sh"), action], env=self.env, check=True,
                       capture_output=True, timeout=30)

    def start(self):
        self._script("start")
        # A Celery client of its own for this broker (the suite's app talks to the suite's Redis);
        # a new one after each restart, so no connection of the old server is reused.
        self.app = Celery("faults-client", broker=self.url, set_as_current=False)

    def stop(self):
        self.app.close()  # drop pooled connections: they would be stale after a restart
        self._script("stop")

    def wipe(self):
        """What a Redis without persistence has after a restart: nothing."""
        shutil.rmtree(self.dir / "appendonlydir", ignore_errors=True)


@pytest.fixture
def redis_server(tmp_path):
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def start_worker(name, redis, *extra):
    """A real worker on the private Redis; `extra` are more command-line options."""
    argv = [str(base.BIN / "celery"), "-A", "aimatrix", "worker", "-n", f"{name}@%h", "--without-gossip",
            "--without-mingle", "--loglevel=INFO", *extra]
    proc = base.Process(name, argv, processes.child_env(REDIS_URL=redis.url, **FAST), processes.LOG_DIR)
    _wait_for_worker(proc, f"{name}@{socket.gethostname()}", redis)
    return proc


def _wait_for_worker(proc, hostname, redis, timeout=40):
    def answered():
        if not proc.alive():
            raise AssertionError(f"worker {proc.name} exited:\n{proc.log_tail()}")
        try:
            replies = redis.app.control.ping(destination=[hostname], timeout=0.5) or []
        except redis.app.connection().connection_errors:
            return False  # a pooled connection from before a restart: the next try reconnects
        return any(hostname in reply for reply in replies)

    try:
        wait_for(answered, timeout=timeout, message=f"worker {hostname}")
    except BaseException:
        proc.stop()
        raise


def start_beat(redis_url, tmp_path, **env):
    argv = [str(base.BIN / "celery"), "-A", "aimatrix", "beat", "--loglevel=INFO", "-s", str(tmp_path / "beat-schedule")]
    proc = base.Process(f"faults-beat-{uuid.uuid4().hex[:6]}", argv,
                        processes.child_env(REDIS_URL=redis_url, **{**FAST, **env}), processes.LOG_DIR)
    try:
        wait_for(lambda: "job reconciler: every" in proc.log_tail(200) or not proc.alive(), timeout=40,
                 message="beat to start its job reconciler")
        assert proc.alive(), proc.log_tail()
    except BaseException:
        proc.stop()
        raise
    return proc


def enqueue(user, redis, count, rate=20):
    """A pulse job sent to the private broker with the limits services.enqueue gives it."""
    job = Job.objects.create(kind="core.pulse", params={"count": count, "rate": rate}, requester=user,
                             queue=QUEUE, celery_task_id=uuid.uuid4().hex)
    soft = registry.time_limit_for(registry.get_kind(job.kind), job.params)
    redis.app.send_task(run_job.name, args=[job.pk], queue=QUEUE, task_id=job.celery_task_id,
                        soft_time_limit=soft, time_limit=soft + 30)
    return job


def kill_with_jobs_running_and_waiting(user, redis):
    """Worker with one slot and two more tasks reserved; two more wait in the queue. SIGKILL."""
    worker = start_worker("faults-doomed", redis, "-Q", QUEUE, "--concurrency=1", "--prefetch-multiplier=3")
    try:
        running = enqueue(user, redis, count=100000)
        reserved = [enqueue(user, redis, count=5) for _ in range(2)]
        waiting = [enqueue(user, redis, count=5) for _ in range(2)]
        wait_for(lambda: JobEvent.objects.filter(job=running, kind=EventKind.LOG).count() >= 3,
                 message="the long job to be running")
        worker.kill()  # SIGKILL to the worker and its pool process: no cleanup code runs
        worker.proc.wait(10)
    finally:
        worker.stop()
    assert Job.objects.get(pk=running.pk).status == JobStatus.RUNNING
    assert all(Job.objects.get(pk=j.pk).status == JobStatus.QUEUED for j in reserved + waiting)
    return running, reserved + waiting


def settle(jobs, timeout=45):
    ids = [j.pk for j in jobs]
    wait_for(lambda: not Job.objects.filter(pk__in=ids, status__in=JobStatus.active()).exists(), timeout=timeout,
             message="every job to end")
    return {j.pk: Job.objects.get(pk=j.pk) for j in jobs}


def assert_failed_for_lost_worker(job):
    assert job.status == JobStatus.FAILED
    assert "faults-doomed" in job.error
    assert "not started again" in job.error
    assert JobEvent.objects.filter(job=job, kind=EventKind.ERROR, message=job.error).exists()


def test_killed_worker_and_redis_restart_every_job_ends(make_user, redis_server, tmp_path):
    user = make_user("ops", "jobs.run_diagnostics")
    beat = start_beat(redis_server.url, tmp_path)
    worker = None
    try:
        running, queued = kill_with_jobs_running_and_waiting(user, redis_server)
        redis_server.stop()
        redis_server.start()  # the append-only file brings back the queue and the reserved tasks
        worker = start_worker("faults-rescue", redis_server, "-Q", QUEUE, "--concurrency=2")
        jobs = settle([running, *queued])
    finally:
        if worker:
            worker.stop()
        beat.stop()
    assert_failed_for_lost_worker(jobs[running.pk])
    for job in queued:
        assert jobs[job.pk].status == JobStatus.SUCCEEDED, (jobs[job.pk].error, beat.log_tail())
        assert jobs[job.pk].worker.startswith("faults-rescue@")
    # The two the dead worker had taken came back through the reconciler, not the 1 h timeout.
    put_back = JobEvent.objects.filter(job__in=queued, data__has_key="requeued", message__startswith="Put back")
    assert put_back.count() == 2


def test_tasks_lost_with_redis_data_are_queued_again(make_user, redis_server, tmp_path):
    user = make_user("ops", "jobs.run_diagnostics")
    beat = start_beat(redis_server.url, tmp_path)
    worker = None
    try:
        running, queued = kill_with_jobs_running_and_waiting(user, redis_server)
        redis_server.stop()
        redis_server.wipe()
        redis_server.start()  # empty: every task is gone, the Job rows still say queued/running
        worker = start_worker("faults-rescue", redis_server, "-Q", QUEUE, "--concurrency=2")
        jobs = settle([running, *queued])
    finally:
        if worker:
            worker.stop()
        beat.stop()
    assert_failed_for_lost_worker(jobs[running.pk])
    assert "stopped responding" in jobs[running.pk].error
    for job in queued:
        assert jobs[job.pk].status == JobStatus.SUCCEEDED, (jobs[job.pk].error, beat.log_tail())
        assert JobEvent.objects.filter(job=job, data__has_key="requeued", message__contains="in no queue").exists()


def test_reconciler_gives_up_on_a_job_lost_too_often(make_user, redis_server, tmp_path):
    """A queued job whose task keeps vanishing is failed with the reason after JOBS_MAX_REQUEUES."""
    user = make_user("ops", "jobs.run_diagnostics")
    # Saved but never sent (as if the process died before the commit hook); nobody consumes its queue.
    job = Job.objects.create(kind="core.pulse", params={"count": 1, "rate": 1}, requester=user,
                             queue="faults-nobody", celery_task_id=uuid.uuid4().hex)
    beat = start_beat(redis_server.url, tmp_path, AIMATRIX_JOB_MAX_REQUEUES="1")
    try:
        wait_for(lambda: JobEvent.objects.filter(job=job, data__has_key="requeued").exists(), timeout=20,
                 message="the reconciler to send the task")
        assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED  # it waits in its queue: not lost
        said = wait_for(lambda: JobEvent.objects.filter(job=job, data__has_key="no_consumer").first(), timeout=20,
                        message="the job to say that nobody consumes its queue")
        assert said.message.startswith("No running worker consumes the queue 'faults-nobody'")
        redis_server.stop()
        redis_server.wipe()
        redis_server.start()
        job = settle([job])[job.pk]
    finally:
        beat.stop()
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("Its task was lost 2 times (its task was in no queue"), job.error
    assert JobEvent.objects.filter(job=job, data__has_key="requeued").count() == 1


def test_lost_pool_process_fails_its_job_at_once_and_the_queue_goes_on(make_user, redis_server):
    """SIGKILL of the pool process only (the OOM killer's way): the worker puts the task back
    (reject on worker lost); the redelivery finds the job claimed by a dead process and fails it
    with that reason instead of running it again; the job queued behind it runs."""
    user = make_user("ops", "jobs.run_diagnostics")
    worker = start_worker("faults-oom", redis_server, "-Q", QUEUE, "--concurrency=1")
    try:
        victim = enqueue(user, redis_server, count=100000)
        behind = enqueue(user, redis_server, count=5)
        wait_for(lambda: JobEvent.objects.filter(job=victim, kind=EventKind.LOG).count() >= 3,
                 message="the long job to be running")
        pid = int(Job.objects.get(pk=victim.pk).worker.rsplit(" pid ", 1)[1])
        os.kill(pid, 9)
        jobs = settle([victim, behind], timeout=30)
    finally:
        worker.stop()
    assert jobs[victim.pk].status == JobStatus.FAILED
    assert jobs[victim.pk].error.startswith(f"The worker process running it (faults-oom@{socket.gethostname()} pid {pid}) "
                                            "was lost (killed or out of memory), during the step 'Emitting")
    assert "not started again" in jobs[victim.pk].error
    assert jobs[behind.pk].status == JobStatus.SUCCEEDED


def test_a_job_past_its_time_limit_is_stopped_with_the_reason(make_user, redis_server):
    user = make_user("ops", "jobs.run_diagnostics")
    worker = start_worker("faults-limit", redis_server, "-Q", QUEUE, "--concurrency=1")
    try:
        job = Job.objects.create(kind="core.pulse", params={"count": 100000, "rate": 20}, requester=user,
                                 queue=QUEUE, celery_task_id=uuid.uuid4().hex)
        redis_server.app.send_task(run_job.name, args=[job.pk], queue=QUEUE, task_id=job.celery_task_id,
                                   soft_time_limit=1.5, time_limit=5)
        job = settle([job], timeout=30)[job.pk]
    finally:
        worker.stop()
    assert job.status == JobStatus.FAILED
    # The message names the kind's limit (what services.enqueue sends), not this test's shortcut.
    assert job.error.startswith("Stopped at its time limit of ")
    assert "during the step 'Emitting 100000 events" in job.error
    assert JobEvent.objects.filter(job=job, kind=EventKind.ERROR, message=job.error).exists()
