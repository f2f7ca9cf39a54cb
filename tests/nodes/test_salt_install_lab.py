"""The batch minion install over SSH on the lab: an inventory (YAML) names two lab hosts and a
third host whose SSH port is closed; two hosts install at once, in a Celery worker as in
production. Each host's steps stream live under its name; the closed one fails at `connect` with
its reason and does not hold up the others; the two minions are enrolled with one-time tokens and
their keys accepted by the fingerprints they reported, while the lab's own minions on those hosts
stay pending.

The minion source is `shared`: the lab hosts share this machine's filesystem, as cluster nodes
share an NFS software tree, so the lab's salt-minion is used where it is (a second minion per
host, with its own short config and root dirs, like the enrollment test's)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from apps.jobs.models import Job
from devtools import lab
from apps.keyvault import tokens as kv_tokens
from apps.nodes import salt_install_job
from apps.nodes.salt import KeyState, SaltApi, key_fingerprint
from apps.nodes.salt_models import EnrollmentMethod, EnrollmentState, SaltEnrollment, SaltMinion

from .. import processes
from ..conftest import wait_for_job
from ..labshell import ArgvSampler
from .salt_lab import SALT_MINION, master, portal  # noqa: F401  (fixtures)

TOKEN_PREFIX = f"{kv_tokens.VERSION}.".encode()
pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, users)"),
              pytest.mark.django_db(transaction=True)]


@pytest.fixture
def batch(salt_lab):
    """Two lab hosts, their batch minions' dirs (short: Salt's unix sockets), and cleanup: the
    minions stopped, their keys deleted on the master, the dirs removed."""
    tag = hashlib.sha256(str(salt_lab.lab_dir).encode()).hexdigest()[:6]
    base = Path(f"/run/aimx-batch-{tag}")
    shutil.rmtree(base, ignore_errors=True)
    source = {"kind": "shared", "path": str(SALT_MINION), "config_dir": f"{base}/{{minion_id}}/c",
              "root_dir": f"{base}/{{minion_id}}/r"}
    hosts = salt_lab.hosts[:2]
    ids = [f"{h.name}-batch" for h in hosts]
    # The job runs where jobs run: a Celery worker (as in production, without the connection pool)
    # with this source; the suite's own worker stops taking the ssh queue meanwhile.
    worker = processes.start_worker("salt-batch", queues="ssh", concurrency=1,
                                    AIMATRIX_SALT_MINION_SOURCE=json.dumps(source))
    others = processes.only_this_worker_takes("ssh", "salt-batch")
    try:
        yield {"hosts": hosts, "ids": ids, "base": base}
    finally:
        processes.consume_again("ssh", others)
        worker.stop()
    salt = salt_lab.salt
    user, password = salt.credentials()
    lab.remove_salt_minions(SaltApi(salt.api_url, user, password, salt.eauth, salt.ca_file, timeout=20), base, ids)


def test_batch_install_two_hosts_in_parallel_one_unreachable(salt_lab, fleet, portal, master, batch):
    admin, (a, b) = fleet["admin"], batch["hosts"]
    inventory = (f"- name: {a.name}\n- name: {b.name}\n"
                 f"- name: closed-port\n  address: {a.address}\n  ssh_port: 1\n  ssh_user: {a.user}\n"
                 "  ssh_credential: lab-ssh\n")
    nodes = salt_install_job.nodes_from_inventory(admin, inventory, "yaml")
    assert [n.name for n in nodes] == [a.name, b.name, "closed-port"]
    # Every one-time token starts with its format's prefix: none may be on any command line.
    sampler = ArgvSampler([TOKEN_PREFIX])
    sampler.start()
    try:
        job = salt_install_job.start_batch_install(admin, nodes=nodes, portal_url=portal, master=master,
                                                   minion_id="{node}-batch", parallel=2)
        wait_for_job(job.pk, timeout=240)
    finally:
        sampler.stop.set()
        sampler.join()
    job = Job.objects.get(pk=job.pk)
    lines = list(job.events.order_by("seq").values_list("host", "message", "data", "timestamp", "kind"))
    text = "\n".join(f"{h} {m}" for h, m, *_ in lines)

    # the closed host failed at connect with its reason; the job names it and only it
    assert job.status == "failed", text
    assert "1 of 3" in job.error and "closed-port" in job.error and "connect" in job.error, job.error
    results = {h: d for h, m, d, ts, kind in lines if kind == "host"}
    assert results["closed-port"]["ok"] is False and results["closed-port"]["step"] == "connect"
    assert results[a.name]["ok"] is True and results[b.name]["ok"] is True, text

    # every step of each host, live and in order, under the host's name
    order = ["connect", "sudo", "os", "install", "enroll", "accept"]
    for host in (a.name, b.name):
        steps = [d["step"] for h, m, d, ts, kind in lines if h == host and kind == "log"]
        assert [s for s in order if s in steps] == order, steps
        assert steps == sorted(steps, key=order.index), steps
    # two at a time: both hosts had connected before either was done
    connected = [ts for h, m, d, ts, kind in lines if kind == "log" and d.get("step") == "connect"
                 and h in (a.name, b.name)]
    finished = [ts for h, m, d, ts, kind in lines if kind == "host" and h in (a.name, b.name)]
    assert len(connected) == 2 and max(connected) < min(finished), text

    # enrolled with tokens and accepted by the reported fingerprints; the lab's own minions pending
    salt = salt_lab.salt
    user, password = salt.credentials()
    api = SaltApi(salt.api_url, user, password, salt.eauth, salt.ca_file, timeout=20)
    for host, minion_id in zip((a, b), batch["ids"]):
        enrollment = SaltEnrollment.objects.get(minion_id=minion_id)
        assert enrollment.method == EnrollmentMethod.BATCH and enrollment.state == EnrollmentState.ACCEPTED
        pub = (batch["base"] / minion_id / "r" / "etc/salt/pki/minion/minion.pub").read_text()
        key = api.key(minion_id)
        assert key.state == KeyState.ACCEPTED and key.fingerprint == key_fingerprint(pub)
        assert results[host.name]["fingerprint"] == key.fingerprint == enrollment.reported_fingerprint
        assert api.key(host.name).state == KeyState.PENDING
        row = SaltMinion.objects.get(master=master, minion_id=minion_id)
        assert row.node.name == host.name and row.last_ping_ok is True
    # the tokens went on the SSH channel's stdin only: in no process's arguments, nor in the job
    assert sampler.samples > 20 and sampler.hits == [], sampler.hits
    assert TOKEN_PREFIX.decode() not in text + str(job.result) + job.error
