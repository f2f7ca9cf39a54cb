"""Fleet jobs end to end: real worker, real sshd hosts in network namespaces, real BMC emulators."""
import json
import os
from pathlib import Path

import pytest

from apps.keyvault.models import SecretAccess
from apps.keyvault.services import create_secret
from apps.nodes import services
from apps.nodes.models import HostKey, Node
from apps.jobs import services as jobs
from apps.jobs.models import JobEvent

from ..conftest import wait_for_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]


def _hosts(job):
    return {e.host: e.data for e in JobEvent.objects.filter(job=job, kind="host")}


def test_connection_and_probe_on_all_lab_hosts(live_worker, fleet):
    names = list(fleet["nodes"])
    job = wait_for_job(jobs.start_job(fleet["admin"], "nodes.test_connection", {"nodes": names}).pk)
    assert job.status == "succeeded", job.error
    assert {h: d["ok"] and d["sudo"] for h, d in _hosts(job).items()} == {n: True for n in names}
    assert set(Node.objects.values_list("state", flat=True)) == {"ready"}
    # The job read the SSH key on behalf of the user who started it, not as "system".
    reads = SecretAccess.objects.filter(secret_name="lab-ssh", kind="use")
    assert reads.exists() and set(reads.values_list("actor_repr", flat=True)) == {fleet["admin"].username}
    job = wait_for_job(jobs.start_job(fleet["admin"], "nodes.probe", {"nodes": names}).pk)
    assert job.status == "succeeded", job.error
    for node in Node.objects.all():
        assert node.facts["hostname"] == node.name
        assert node.facts["cpu_threads"] > 0 and node.facts["memory_bytes"] > 0 and node.facts["kernel"]


def test_unknown_host_key_is_recorded_pending_until_approved(live_worker, fleet, lab_inventory):
    node = fleet["nodes"]["lab-node1"]
    node.host_keys.all().delete()
    job = wait_for_job(jobs.start_job(fleet["admin"], "nodes.test_connection", {"nodes": [node.name]}).pk)
    assert job.status == "failed" and "unknown host key" in job.error
    pending = HostKey.objects.get(node=node)
    assert pending.state == "pending" and pending.fingerprint == lab_inventory.host("lab-node1").fingerprint
    services.decide_host_key(fleet["admin"], pending, "trusted")
    job = wait_for_job(jobs.start_job(fleet["admin"], "nodes.test_connection", {"nodes": [node.name]}).pk)
    assert job.status == "succeeded", job.error


def test_changed_host_key_is_refused_and_the_node_marked(live_worker, fleet):
    node = fleet["nodes"]["lab-node2"]
    fake = "AAAAC3NzaC1lZDI1NTE5AAAAIHfHn2lVqXUeyTZ0mQ2fYx8m9yMDQ3UeOQ5UjOWeF6k1"  # not the host's key
    node.host_keys.all().delete()
    services.trust_supplied_key(fleet["admin"], node, "ssh-ed25519", fake)
    job = wait_for_job(jobs.start_job(fleet["admin"], "nodes.test_connection", {"nodes": [node.name]}).pk)
    assert job.status == "failed" and "HOST KEY CHANGED" in job.error
    node.refresh_from_db()
    assert node.state == "unreachable" and node.events.filter(kind="hostkey.changed").exists()


def test_unreachable_host_fails_within_timeout_while_others_succeed(live_worker, fleet, lab_inventory):
    subnet = lab_inventory.network.get("subnet", "10.78.0")
    ghost = services.create_node(fleet["admin"], name="ghost", address=f"{subnet}.250",
                                 ssh_credential=fleet["nodes"]["lab-node1"].ssh_credential)
    names = list(fleet["nodes"]) + [ghost.name]
    job = wait_for_job(jobs.start_job(fleet["admin"], "nodes.test_connection", {"nodes": names}).pk, timeout=60)
    assert job.status == "failed" and "1 of 4" in job.error
    hosts = _hosts(job)
    assert [h for h, d in hosts.items() if not d["ok"]] == ["ghost"]
    message = JobEvent.objects.get(job=job, kind="host", host="ghost").message
    assert "ghost" in message and ("timed out" in message or "unreachable" in message.lower() or "connect" in message)
    assert (job.finished_at - job.started_at).total_seconds() < 30


def test_malicious_arguments_are_inert(live_worker, fleet):
    argv = ["echo", "; touch /tmp/aimx-pwned", "$(touch /tmp/aimx-pwned)", "`touch /tmp/aimx-pwned`",
            "a\nb", "-n"]
    job = wait_for_job(jobs.start_job(fleet["admin"], "nodes.run_command",
                                      {"nodes": ["lab-node1"], "argv": argv, "timeout": 10}).pk)
    assert job.status == "succeeded", job.error
    out = "\n".join(JobEvent.objects.filter(job=job, kind="log", host="lab-node1").values_list("message", flat=True))
    assert "$(touch /tmp/aimx-pwned)" in out and "`touch /tmp/aimx-pwned`" in out
    assert not os.path.exists("/tmp/aimx-pwned")


def test_power_through_redfish_and_ipmi(live_worker, fleet, lab_inventory):
    redfish_node = next(n for n in fleet["nodes"] if n != lab_inventory.ipmi.node)
    for node, action, expected in [(redfish_node, "on", "on"), (redfish_node, "cycle", "on"),
                                   (redfish_node, "off", "off"),
                                   (lab_inventory.ipmi.node, "on", "on"), (lab_inventory.ipmi.node, "cycle", "on"),
                                   (lab_inventory.ipmi.node, "off", "off")]:
        job = wait_for_job(jobs.start_job(fleet["admin"], "nodes.power",
                                          {"node": node, "action": action, "deadline": 30}).pk, timeout=60)
        assert job.status == "succeeded", f"{node} {action}: {job.error}"
        assert Node.objects.get(name=node).bmc.power_state == expected


def test_bmc_with_wrong_credentials_gives_a_clear_error(live_worker, fleet, lab_inventory):
    admin = fleet["admin"]
    create_secret(admin, name="bad-redfish", kind="bmc_credentials", value="admin:wrong-password",
                  destinations=["127.0.0.1/32"])
    node = fleet["nodes"]["lab-node1"]
    services.set_bmc(admin, node, driver="redfish", address=lab_inventory.redfish.url, credential="bad-redfish",
                     system_id=lab_inventory.redfish.systems["lab-node1"], verify_tls=False)
    job = wait_for_job(jobs.start_job(admin, "nodes.power", {"node": node.name, "action": "on"}).pk)
    assert job.status == "failed"
    assert "auth" in job.error.lower() or "credential" in job.error.lower() or "401" in job.error


def test_no_secret_in_job_output_or_worker_log(live_worker, fleet):
    names = list(fleet["nodes"])
    wait_for_job(jobs.start_job(fleet["admin"], "nodes.test_connection", {"nodes": names}).pk)
    everything = json.dumps(list(JobEvent.objects.values_list("message", "data")))
    body = fleet["key_text"].split("-----")[2].strip().splitlines()[0]
    assert body not in everything
    log = Path(live_worker.log_path).read_text(errors="replace")
    assert body not in log and not any(p in log or p in everything for p in fleet["passwords"])


def test_power_poll_records_state_changes_stalest_first(fleet, lab_inventory):
    from apps.nodes.models import Bmc, NodeEvent
    from apps.nodes.power_poll import poll_power_states

    first = poll_power_states(limit=10, concurrency=4, budget_s=30)
    assert first["polled"] == 3 and first["errors"] == 0, first
    assert set(Bmc.objects.values_list("power_state", flat=True)) <= {"on", "off"}
    assert NodeEvent.objects.filter(kind="power.changed").count() == 3  # unknown -> first state
    # Only the stalest BMC is polled when the batch is 1; it is the one polled longest ago.
    stalest = Bmc.objects.order_by("polled_at").first()
    Bmc.objects.filter(pk=stalest.pk).update(power_state="bogus")
    Bmc.objects.exclude(pk=stalest.pk).update(polled_at=stalest.polled_at.replace(year=stalest.polled_at.year + 1))
    assert poll_power_states(limit=1, concurrency=1, budget_s=30)["changed"] == 1
    event = NodeEvent.objects.filter(kind="power.changed", node=stalest.node).order_by("-id").first()
    assert event.data["before"] == "bogus"
    # A BMC that does not answer is recorded with a readable reason, not raised.
    dead = {"port": 9} if stalest.driver == "ipmi" else {"address": "https://127.0.0.1:9"}
    Bmc.objects.filter(pk=stalest.pk).update(polled_at=None, **dead)
    result = poll_power_states(limit=1, concurrency=1, budget_s=30)
    assert result["errors"] == 1
    error = Bmc.objects.get(pk=stalest.pk).poll_error.lower()
    assert "127.0.0.1" in error and ("unreachable" in error or "no ipmi session" in error)
