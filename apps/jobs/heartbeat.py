"""A worker-side thread that refreshes a running job's heartbeat, so the reaper can tell a live
worker busy in a long step from one that died."""
from __future__ import annotations

import threading

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from .models import Job, JobStatus


class Heartbeat:
    def __init__(self, job_id: int, interval: float | None = None):
        self.job_id = job_id
        self.interval = interval or settings.JOBS_HEARTBEAT_INTERVAL
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-{job_id}-heartbeat", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(self.interval + 5)

    def _run(self):
        try:
            while not self._stop.wait(self.interval):
                Job.objects.filter(pk=self.job_id, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())
        finally:
            close_old_connections()
            connection.close()
