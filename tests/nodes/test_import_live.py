"""The YAML bomb and the 5,000-row CSV against the real daphne of the suite: fast 4xx answers,
nothing created, and the web process's resident memory stays flat (read from /proc)."""
import json
import os
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token

from apps.nodes.models import Node

from .import_payloads import csv_rows, yaml_bomb

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]

GROWTH_LIMIT = 30 * 2**20  # an expanded bomb needs gigabytes; warm caches need far less than this


def pid_listening_on(port: int) -> int:
    """The process that listens on 127.0.0.1:port (from /proc/net/tcp and the fds in /proc)."""
    inodes = set()
    with open("/proc/net/tcp") as fh:
        for line in fh.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":
                inodes.add(f"socket:[{fields[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in fds):
                return int(pid)
        except OSError:
            continue
    raise AssertionError(f"nothing listens on port {port}")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def post(url: str, token: str, body: dict) -> tuple[int, dict, float]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Token {token}", "Content-Type": "application/json"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            status, data = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, data = exc.code, exc.read()
    return status, json.loads(data or b"{}"), time.monotonic() - started


def token_for(django_user_model, username, role=None, superuser=False):
    user = django_user_model.objects.create_user(username=username, password="pw-Live-Import-1",
                                                 is_superuser=superuser, is_staff=superuser)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return Token.objects.create(user=user).key


def test_bomb_and_big_csv_get_fast_4xx_and_daphne_memory_stays_flat(live_server_url, django_user_model):
    url = f"{live_server_url}/api/v1/nodes/import/"
    pid = pid_listening_on(urlparse(live_server_url).port)
    developer = token_for(django_user_model, "live-dev", "data-developer")
    engineer = token_for(django_user_model, "live-eng", "engineer")
    admin = token_for(django_user_model, "live-root", superuser=True)
    # Warm up every code path once (imports, connections), then measure.
    assert post(url, admin, {"format": "yaml", "content": "- {name: warm, address: 10.0.0.1}\n"})[0] == 201
    for token in (developer, admin):
        post(url, token, {"format": "yaml", "content": yaml_bomb()})
    before = rss_bytes(pid)
    for _ in range(3):
        status, body, seconds = post(url, developer, {"format": "yaml", "content": yaml_bomb()})
        assert status == 403 and seconds < 2, (status, body, seconds)
        status, body, seconds = post(url, admin, {"format": "yaml", "content": yaml_bomb()})
        assert status == 400 and "anchors" in body["file"][0] and seconds < 2, (status, body, seconds)
        status, body, seconds = post(url, engineer, {"format": "csv", "content": csv_rows(5000)})
        assert status == 403 and seconds < 2, (status, body, seconds)
    growth = rss_bytes(pid) - before
    assert growth < GROWTH_LIMIT, f"daphne grew by {growth / 2**20:.1f} MiB"
    assert list(Node.objects.values_list("name", flat=True)) == ["warm"]
