"""A trickling BMC among healthy ones (sushy-emulator): the power job fails at its deadline with a
readable reason, the poll keeps its budget and polls the others, only one poll round runs at a
time, and other jobs keep starting on the real worker meanwhile."""
from __future__ import annotations

import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import bcrypt

import pytest
from django.conf import settings

from apps.jobs import services as jobs
from apps.keyvault.services import create_secret
from apps.nodes import services
from apps.nodes.models import Bmc
from apps.nodes.power_poll import poll_power_states

from ..conftest import wait_for, wait_for_job
from .listeners import self_signed
from .test_bmc_clients import EMULATOR, PASSWORD, SYSTEM_ID, USER, free_port, stop
from .trickle import TrickleServer

pytestmark = pytest.mark.django_db(transaction=True)
SLACK = 3.0  # a shared 2-core machine; unbounded, each trickling call would last a minute


@pytest.fixture(scope="module")
def redfish_url(tmp_path_factory):
    """sushy-emulator over HTTPS (the portal refuses plain-http Redfish)."""
    root, port = tmp_path_factory.mktemp("redfish-tls"), free_port()
    cert, key = self_signed(root)
    (root / "htpasswd").write_text(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()}\n")
    (root / "state").mkdir()
    (root / "emulator.conf").write_text(f"""
SUSHY_EMULATOR_LISTEN_IP = "127.0.0.1"
SUSHY_EMULATOR_LISTEN_PORT = {port}
SUSHY_EMULATOR_SSL_CERT = "{cert}"
SUSHY_EMULATOR_SSL_KEY = "{key}"
SUSHY_EMULATOR_FAKE_DRIVER = True
SUSHY_EMULATOR_FAKE_SYSTEMS = [{{"uuid": "{SYSTEM_ID}", "name": "node1", "power_state": "Off", "nics": []}}]
SUSHY_EMULATOR_AUTH_FILE = "{root}/htpasswd"
SUSHY_EMULATOR_STATE_DIR = "{root}/state"
""")
    log = (root / "emulator.log").open("w")
    proc = subprocess.Popen([sys.executable, "-c", EMULATOR, str(root / "emulator.conf")], stdout=log, stderr=log)
    url, insecure = f"https://127.0.0.1:{port}", ssl._create_unverified_context()
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"{url}/redfish/v1/", timeout=1, context=insecure).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                raise RuntimeError(f"sushy-emulator did not start: {(root / 'emulator.log').read_text()[-2000:]}")
            time.sleep(0.05)
    yield url
    stop(proc)


@pytest.fixture
def bmcs(root, only_networks, redfish_url):
    """Two nodes on the emulator, one on a BMC that trickles one byte a second."""
    only_networks("127.0.0.1/32", "10.0.0.0/8")
    # The suite's worker reads managed networks from the shared var directory, not our settings.
    published = Path(settings.VAR_DIR) / "managed-networks.d" / f"test-deadlines-{os.getpid()}.txt"
    published.parent.mkdir(parents=True, exist_ok=True)
    published.write_text("127.0.0.1/32\n")
    create_secret(root, name="bmc-cred", kind="bmc_credentials", value=f"{USER}:{PASSWORD}",
                  destinations=["127.0.0.1/32"])
    with TrickleServer("https") as slow:
        nodes = {}
        for name, url in (("good1", redfish_url), ("good2", redfish_url), ("slow", slow.url)):
            nodes[name] = services.create_node(root, name=name, address=f"10.9.0.{len(nodes) + 1}")
            services.set_bmc(root, nodes[name], driver="redfish", address=url, credential="bmc-cred",
                             system_id=SYSTEM_ID, verify_tls=False)
        yield {"nodes": nodes, "root": root, "slow": slow}
    published.unlink(missing_ok=True)


def test_poll_keeps_its_budget_and_polls_the_other_bmcs(bmcs):
    start = time.monotonic()
    result = poll_power_states(limit=10, concurrency=4, budget_s=3)
    took = time.monotonic() - start
    assert took < 3 + SLACK, (took, result)
    states = dict(Bmc.objects.values_list("node__name", "power_state"))
    assert states["good1"] in {"on", "off"} and states["good2"] in {"on", "off"}, states
    slow = Bmc.objects.get(node__name="slow")
    assert "stopped at the 3 s deadline of the BMC poll round" in slow.poll_error, slow.poll_error
    assert result["errors"] == 1 and result["polled"] == 3, result


def test_only_one_poll_round_at_a_time(bmcs):
    first = {}
    runner = threading.Thread(target=lambda: first.update(poll_power_states(limit=10, concurrency=4, budget_s=3)))
    runner.start()
    try:
        wait_for(lambda: Bmc.objects.filter(node__name="good1", polled_at__isnull=False).exists(), timeout=10,
                 message="the first round polling")
        second = poll_power_states(limit=10, concurrency=4, budget_s=3)  # the slow BMC still holds round one
    finally:
        runner.join(15)
    assert second == {"skipped": "another poll round is still running"}
    assert first["polled"] == 3, first
    assert "polled" in poll_power_states(limit=10, concurrency=4, budget_s=3)  # free again once it ended


@pytest.mark.live
def test_power_job_fails_at_its_deadline_while_other_jobs_run(bmcs, live_worker):
    root, nodes = bmcs["root"], bmcs["nodes"]
    slow = jobs.start_job(root, "nodes.power", {"node": nodes["slow"].pk, "action": "on", "deadline": 5})
    good = jobs.start_job(root, "nodes.power", {"node": nodes["good1"].pk, "action": "on", "deadline": 20})
    good = wait_for_job(good.pk, timeout=30)
    assert good.status == "succeeded", good.error
    slow = wait_for_job(slow.pk, timeout=30)
    assert slow.status == "failed"
    assert "slow: Redfish https://127.0.0.1" in slow.error, slow.error
    assert "stopped at the 5 s deadline of power on of slow" in slow.error, slow.error
    assert (slow.finished_at - slow.started_at).total_seconds() < 5 + SLACK
    # The slot is free again: the next job starts and ends at once.
    after = wait_for_job(jobs.start_job(root, "nodes.power", {"node": nodes["good2"].pk, "action": "off",
                                                              "deadline": 20}).pk, timeout=30)
    assert after.status == "succeeded", after.error
