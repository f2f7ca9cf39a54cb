"""A job page stays connected while its job says nothing: the channel layer's blocking read on an
idle websocket must never hit a Redis socket timeout (that crashed the consumer, daphne logged
`redis.exceptions.TimeoutError: Timeout reading from ...` and the page reconnected)."""
import json
import time

import pytest
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from apps.jobs import services
from apps.jobs.models import JobEvent

from .. import processes
from ..wsclient import collect_until_final, open_job_socket

QUIET_SECONDS = 30
SERVER_ERRORS = ("Timeout reading", "TimeoutError", "Traceback", "Exception inside application")


def test_channel_layer_reads_outlast_its_blocking_wait():
    """Fast guard for the live test below: every layer connection waits longer than BZPOPMIN."""
    for host in settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]:
        assert host["socket_timeout"] >= RedisChannelLayer.brpop_timeout + 5
        assert host["socket_connect_timeout"] <= 5  # an unreachable Redis still fails fast


@pytest.mark.django_db(transaction=True)
@pytest.mark.live
def test_a_job_silent_for_30_seconds_keeps_its_websocket(live_worker, live_server_url, make_user, monkeypatch):
    user = make_user("ops", "jobs.run_diagnostics")
    # The job waits unseen in the queue (as behind a busy worker): after its "queued" event the
    # page hears nothing for QUIET_SECONDS; then the real worker runs it.
    with monkeypatch.context() as held:
        held.setattr(services, "enqueue", lambda job: None)
        job = services.start_job(user, "core.pulse", {"count": 5, "rate": 50})
    daphne_log = processes.LOG_DIR / "suite-daphne.log"
    log_start = daphne_log.stat().st_size

    with open_job_socket(live_server_url, user, job.pk) as ws:
        replay = json.loads(ws.recv(timeout=10))["events"]
        assert [e["message"] for e in replay] == ["queued"]
        quiet_from = time.monotonic()
        while (left := quiet_from + QUIET_SECONDS - time.monotonic()) > 0:
            try:
                frame = ws.recv(timeout=left)
            except TimeoutError:
                break  # silence, as expected
            except ConnectionClosed as closed:
                pytest.fail(f"websocket closed after {time.monotonic() - quiet_from:.1f}s of silence: {closed}; "
                            f"daphne log:\n{_read_from(daphne_log, log_start)}")
            pytest.fail(f"unexpected frame while the job was silent: {frame}")
        assert ws.protocol.state is State.OPEN

        services.enqueue(job)
        later = collect_until_final(ws)

    stored = list(JobEvent.objects.filter(job=job).order_by("seq").values_list("seq", flat=True))
    assert [e["seq"] for e in later] == stored[1:] == list(range(2, len(stored) + 1))
    assert later[-1]["message"] == "succeeded"
    log = _read_from(daphne_log, log_start)
    assert not [line for line in log.splitlines() if any(err in line for err in SERVER_ERRORS)], log


def _read_from(path, offset: int) -> str:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read().decode(errors="replace")
