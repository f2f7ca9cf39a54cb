"""Salt enrollment end to end on the lab (scripts/lab/salt.sh via `salt_lab`, hosts as Nodes via
`fleet`, the portal on daphne reachable from the lab's namespaces, a real Celery worker).

What is realistic here: every lab host already runs the lab's own minion (id = the host's name,
its key pending, started by salt.sh with its own root_dir). The bootstrap therefore configures a
SECOND minion on the host, `<host>-portal`, with a short root_dir of its own, started by the
bootstrap itself with the lab's salt-minion (`--salt-minion`), over SSH as the lab user with sudo,
inside the host's network namespace. Its key is accepted because the fingerprint it reported
matches; the lab's own minion on the same host, whose key is a different one, stays pending.
"""
from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from apps.nodes import remote, salt_enrollment, salt_services
from apps.nodes.salt import KeyState, SaltApi, key_fingerprint
from devtools import lab
from tests.conftest import wait_for_job

from .salt_lab import SALT_MINION, master, portal  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, users)")


@pytest.fixture
def second_minion(salt_lab):
    """Where the enrolled minion lives (short paths: Salt's unix sockets), removed afterwards
    with its process (by its pid file) and its key on the master."""
    host = salt_lab.hosts[-1]
    tag = hashlib.sha256(str(salt_lab.lab_dir).encode()).hexdigest()[:6]
    base_dir = Path(f"/run/aimx-enroll-{tag}")
    shutil.rmtree(base_dir, ignore_errors=True)
    state = {"host": host, "id": f"{host.name}-portal", "root": base_dir / "r", "conf": base_dir / "c"}
    yield state
    lab.stop_salt_minion(state["root"])
    user, password = salt_lab.salt.credentials()
    api = SaltApi(salt_lab.salt.api_url, user, password, salt_lab.salt.eauth, salt_lab.salt.ca_file)
    if api.key(state["id"]) is not None:
        api.delete(state["id"])
    shutil.rmtree(base_dir, ignore_errors=True)


def bootstrap(node, portal_url, token, mine, *extra, timeout=120):
    """The node page's command, over SSH as the lab user with sudo; the token on stdin."""
    script = f"/tmp/aimx-salt-bootstrap-{mine['id']}.sh"
    line = (f"curl -fsS {shlex.quote(portal_url)}/api/v1/salt/bootstrap.sh -o {script} && "
            f"sudo -n sh {script} --portal {shlex.quote(portal_url)} --config-dir {mine['conf']} "
            f"--root-dir {mine['root']} --salt-minion {SALT_MINION} {' '.join(map(shlex.quote, extra))}; "
            f"rc=$?; rm -f {script}; exit $rc")
    return remote.run(node, ["sh", "-c", line], stdin=(token + "\n").encode(), timeout=timeout,
                      purpose="test: Salt bootstrap")


def test_enroll_a_lab_host_with_a_token_end_to_end(salt_lab, fleet, live_worker, portal, master, second_minion):
    salt = salt_lab.salt
    admin, host = fleet["admin"], second_minion["host"]
    node = fleet["nodes"][host.name]
    out = salt_enrollment.issue(admin, node, master=master, minion_id=second_minion["id"], portal_url=portal)
    assert out["token"] not in out["command"]

    result = bootstrap(node, portal, out["token"], second_minion)
    assert result.exit_status == 0, result.stdout + result.stderr
    assert "reported" in result.stdout

    # the minion's own key (what the bootstrap reported) is the master-side fingerprint form
    pub = (second_minion["root"] / "etc/salt/pki/minion/minion.pub").read_text()
    reported = key_fingerprint(pub)
    from apps.nodes.salt_models import EnrollmentState, SaltEnrollment, SaltMinion

    enrollment = SaltEnrollment.objects.get(minion_id=second_minion["id"])
    assert enrollment.reported_fingerprint == reported
    job = wait_for_job(Job_of_report(enrollment), timeout=120)
    assert job.status == "succeeded", (job.error, list(job.events.values_list("message", flat=True)))
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.ACCEPTED

    user, password = salt.credentials()
    api = SaltApi(salt.api_url, user, password, salt.eauth, salt.ca_file, timeout=20)
    key = api.key(second_minion["id"])
    assert key.state == KeyState.ACCEPTED and key.fingerprint == reported
    # the lab's own minion on that host has another key: it stays pending, and the reported
    # fingerprint does not accept it
    lab_key = api.key(host.name)
    assert lab_key.state == KeyState.PENDING and lab_key.fingerprint != reported
    lab_row = SaltMinion.objects.create(master=master, minion_id=host.name, key_state="pending")
    with pytest.raises(Exception, match="fingerprint"):
        salt_services.accept_key(admin, lab_row, reported)
    assert api.key(host.name).state == KeyState.PENDING

    # the token again (replayed, as a thief would): nothing
    again = requests.post(f"{portal}/api/v1/salt/enroll/", json={"token": out["token"], "timestamp": time.time()},
                          timeout=30)
    assert again.status_code == 409 and "master" not in again.json()

    # a ping job over the enrolled minion and the pending one: per-minion results
    enrolled = SaltMinion.objects.get(master=master, minion_id=second_minion["id"])
    ping = salt_services.start_run(admin, [enrolled, lab_row], "test.ping")
    ping = wait_for_job(ping.pk, timeout=60)
    assert ping.status == "succeeded", ping.error
    hosts = {e.host: e.data for e in ping.events.filter(kind="host")}
    assert hosts[second_minion["id"]]["ok"] is True and hosts[host.name]["ok"] is False
    enrolled.refresh_from_db()
    assert enrolled.last_ping_ok is True and enrolled.node == node

    # grains as a job: the hardware summary is stored on the minion
    grains = wait_for_job(salt_services.start_run(admin, [enrolled], "grains.items").pk, timeout=60)
    assert grains.status == "succeeded", grains.error
    enrolled.refresh_from_db()
    assert enrolled.hardware["num_cpus"] >= 1 and enrolled.hardware["mem_total_mb"] > 0
    assert enrolled.salt_version == salt.version

    # reject, then delete: each one audit entry, and the master agrees
    from apps.core.models import AuditEvent

    salt_services.reject_key(admin, enrolled)
    assert api.key(second_minion["id"]).state == KeyState.REJECTED
    salt_services.delete_key(admin, enrolled)
    assert api.key(second_minion["id"]) is None
    assert AuditEvent.objects.filter(action="salt.key.reject").count() == 1
    assert AuditEvent.objects.filter(action="salt.key.delete").count() == 1
    assert not SaltMinion.objects.filter(minion_id=second_minion["id"]).exists()


def Job_of_report(enrollment) -> int:
    """The acceptance job the report started (the report's audit entry names it)."""
    from apps.core.models import AuditEvent

    entry = AuditEvent.objects.filter(action="salt.enroll.report", object_id=str(enrollment.pk)).latest("pk")
    return entry.changes["after"]["job"]


@pytest.fixture
def impostor(salt_lab, second_minion):
    """Another minion claiming the enrolled id first, with a key of its own (pending on the master)."""
    salt = salt_lab.salt
    base_dir = second_minion["root"].parent / "impostor"
    root, conf = base_dir / "r", base_dir / "c"
    conf.mkdir(parents=True)
    (conf / "minion").write_text(
        f"id: {second_minion['id']}\nmaster: {salt.master['address']}\nmaster_port: {salt.master['ret_port']}\n"
        f"root_dir: {root}\nmaster_finger: '{salt.master['fingerprint']}'\nhash_type: sha256\n"
        "acceptance_wait_time: 1\nacceptance_wait_time_max: 1\n")
    subprocess.run([str(SALT_MINION), "-c", str(conf), "-d", "-l", "warning"], check=True, timeout=60)
    user, password = salt.credentials()
    api = SaltApi(salt.api_url, user, password, salt.eauth, salt.ca_file, timeout=20)
    deadline = time.monotonic() + 30
    while (key := api.key(second_minion["id"])) is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert key is not None and key.state == KeyState.PENDING, key
    yield {"root": root, "fingerprint": key.fingerprint}
    lab.stop_salt_minion(root)


def test_a_pending_key_other_than_the_reported_one_stays_pending(salt_lab, fleet, live_worker, portal, master,
                                                                  second_minion, impostor):
    salt = salt_lab.salt
    admin, host = fleet["admin"], second_minion["host"]
    node = fleet["nodes"][host.name]
    out = salt_enrollment.issue(admin, node, master=master, minion_id=second_minion["id"], portal_url=portal)
    result = bootstrap(node, portal, out["token"], second_minion)
    assert result.exit_status == 0, result.stdout + result.stderr

    from apps.nodes.salt_models import EnrollmentState, SaltEnrollment

    enrollment = SaltEnrollment.objects.get(minion_id=second_minion["id"])
    reported = key_fingerprint((second_minion["root"] / "etc/salt/pki/minion/minion.pub").read_text())
    assert enrollment.reported_fingerprint == reported != impostor["fingerprint"]
    job = wait_for_job(Job_of_report(enrollment), timeout=120)
    assert job.status == "failed" and "fingerprint mismatch" in job.error
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.FAILED
    user, password = salt.credentials()
    api = SaltApi(salt.api_url, user, password, salt.eauth, salt.ca_file, timeout=20)
    keys = [k for k in api.keys(second_minion["id"]) if k.id == second_minion["id"]]
    assert KeyState.ACCEPTED not in {k.state for k in keys}
    assert any(k.state == KeyState.PENDING and k.fingerprint == impostor["fingerprint"] for k in keys)


def test_hmac_enrollment_accepted_by_the_refresh(salt_lab, fleet, portal, master, second_minion):
    """The seed's signed request from the node (the bootstrap's --hmac-secret-file), for a node
    registered under the minion's id; with no issuer waiting, the next refresh (beat) accepts the
    key because it is the reported one."""
    from apps.keyvault.services import create_secret
    from apps.nodes.salt_jobs import refresh_master
    from apps.nodes.salt_masters import update_master
    from apps.nodes.salt_models import EnrollmentState, SaltEnrollment
    from apps.nodes.services import create_node

    admin, host = fleet["admin"], second_minion["host"]
    shared = create_secret(admin, name="lab-salt-hmac", kind="other", value="lab-shared-" + "x" * 24,
                           destinations=[f"{host.address}/32"])
    update_master(admin, master, hmac_secret=shared)
    create_node(admin, name=second_minion["id"], address=host.address)
    secret_file = second_minion["root"].parent / "hmac"
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    secret_file.write_text("lab-shared-" + "x" * 24 + "\n")
    secret_file.chmod(0o600)
    result = bootstrap(fleet["nodes"][host.name], portal, "", second_minion,
                       "--hmac-secret-file", str(secret_file), "--minion-id", second_minion["id"])
    assert result.exit_status == 0, result.stdout + result.stderr
    enrollment = SaltEnrollment.objects.get(minion_id=second_minion["id"])
    assert enrollment.method == "hmac" and enrollment.state == EnrollmentState.REPORTED
    deadline = time.monotonic() + 60
    while enrollment.state == EnrollmentState.REPORTED and time.monotonic() < deadline:
        refresh_master(master, actor="test refresh")
        enrollment.refresh_from_db()
        time.sleep(1)
    assert enrollment.state == EnrollmentState.ACCEPTED, enrollment.detail
    user, password = salt_lab.salt.credentials()
    api = SaltApi(salt_lab.salt.api_url, user, password, salt_lab.salt.eauth, salt_lab.salt.ca_file, timeout=20)
    assert api.key(second_minion["id"]).fingerprint == enrollment.reported_fingerprint
