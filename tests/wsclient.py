"""A small websocket client for tests: connects to the real daphne with a DRF token."""
from __future__ import annotations

import json
import time

from rest_framework.authtoken.models import Token
from websockets.sync.client import connect


def open_job_socket(base_url: str, user, job_id: int, after: int = 0, origin: str | None = None):
    token, _ = Token.objects.get_or_create(user=user)
    ws_url = base_url.replace("http://", "ws://") + f"/ws/jobs/{job_id}/?after={after}"
    return connect(ws_url, additional_headers={"Authorization": f"Token {token.key}"},
                   origin=origin or base_url, open_timeout=10)


def collect_until_final(ws, timeout: float = 30.0) -> list[dict]:
    """Receive event frames until the job's final status event arrives."""
    events = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        events.extend(frame["events"])
        if any(e["kind"] == "status" and e["message"] in ("succeeded", "failed", "cancelled") for e in frame["events"]):
            return events
    raise AssertionError(f"no final status within {timeout}s; got {len(events)} events")
