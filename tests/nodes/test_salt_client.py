"""The salt-api client against the lab's real Salt (scripts/lab/salt.sh via the `salt_lab`
fixture): salt-master and salt-api over HTTPS with the lab's CA, one minion per lab host in its
network namespace, keys pending until accepted by fingerprint.

Minions are split between the tests: lab-node1 and lab-node2 get accepted (module fixture),
the last host stays pending for the refusal, reject and delete tests.
"""
from __future__ import annotations

import os
import socket
import time

import pytest

from apps.nodes.salt import (KeyState, SaltApi, SaltAuthFailed, SaltFunctionRefused, SaltKeyRefused, SaltRole,
                             SaltTimeout, SaltUnreachable)

from ..labshell import poll
from .trickle import TrickleServer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, users)")

FIRST_PING_S = 30.0  # after an accept: the minion re-authenticates within 1 s; measured 0.3-4.5 s to a pong


def make_api(salt, **kwargs) -> SaltApi:
    username, password = salt.credentials()
    return SaltApi(salt.api_url, username, password, salt.eauth, salt.ca_file, **kwargs)


@pytest.fixture(scope="module")
def salt(salt_lab):
    return salt_lab.salt


@pytest.fixture(scope="module")
def api(salt):
    return make_api(salt, timeout=20)


@pytest.fixture(scope="module")
def accepted(salt, api):
    """The first two lab minions, accepted by their inventory fingerprints and answering pings."""
    ids = [m.id for m in salt.minions[:2]]
    for minion_id in ids:
        key = api.key(minion_id)
        if key.state == KeyState.PENDING:
            api.accept(minion_id, salt.minion(minion_id).key_fingerprint)
    for minion_id in ids:
        api.wait_for_ping(minion_id, timeout=FIRST_PING_S)
    return ids


@pytest.fixture(scope="module")
def pending_id(salt):
    return salt.minions[-1].id


def test_minion_keys_are_pending_with_the_fingerprints_the_minions_hold(salt, api, pending_id):
    assert len(salt.minions) >= 3
    keys = {k.id: k for k in api.keys()}
    assert set(keys) >= {m.id for m in salt.minions}
    # the master never auto-accepts: a key this module did not accept is pending
    assert keys[pending_id].state == KeyState.PENDING
    for minion in salt.minions:
        assert keys[minion.id].fingerprint == minion.key_fingerprint


def test_a_wrong_fingerprint_is_refused_and_the_key_stays_pending(salt, api, pending_id):
    right = salt.minion(pending_id).key_fingerprint
    wrong = right[:-2] + ("00" if not right.endswith("00") else "11")
    with pytest.raises(SaltKeyRefused, match="fingerprint mismatch"):
        api.accept(pending_id, wrong)
    # a viewer cannot even try
    with pytest.raises(SaltFunctionRefused):
        api.as_role(SaltRole.VIEWER).accept(pending_id, right)
    assert api.key(pending_id).state == KeyState.PENDING


def test_accept_by_fingerprint_then_ping_version_and_grains(salt, api, accepted):
    keys = {k.id: k for k in api.keys()}
    assert all(keys[m].state == KeyState.ACCEPTED for m in accepted)
    with pytest.raises(SaltKeyRefused, match="not pending"):
        api.accept(accepted[0], salt.minion(accepted[0]).key_fingerprint)

    pings = api.ping(accepted)
    assert pings.ok and {m: r.ret for m, r in pings.returns.items()} == {m: True for m in accepted}
    versions = api.version(accepted)
    assert {r.ret for r in versions.returns.values()} == {salt.version}
    grains = api.grains([accepted[0]]).returns[accepted[0]].ret
    host = salt.minion(accepted[0])
    assert grains["id"] == host.id and grains["host"] == host.host  # the minion runs as that host (UTS)
    assert host.address in grains["ipv4"]  # and inside its network namespace
    hardware = api.hardware(accepted).returns
    assert set(hardware) == set(accepted)
    summary = hardware[accepted[0]].ret
    assert summary.num_cpus >= 1 and summary.mem_total_mb > 0 and summary.salt_version == salt.version
    # the lab's simulated GPUs (2-8 per host) appear as the minion's gpus grains
    assert 2 <= summary.num_gpus == len(summary.gpus) <= 8
    assert all(g["vendor"] == "nvidia" and g["model"].startswith("NVIDIA ") for g in summary.gpus)


def test_a_run_reports_per_minion_returns_and_who_did_not_answer(api, accepted, pending_id):
    result = api.run([*accepted, pending_id], "test.version", wait=3)
    assert set(result.returns) == set(accepted) and result.missing == (pending_id,)
    assert all(r.retcode == 0 and r.success for r in result.returns.values())
    assert result.jid and not result.ok

    everyone = api.ping("*")
    assert set(everyone.returns) == set(accepted)  # a pending minion is never targeted


def test_job_lookup_and_history(api, accepted):
    submitted = api.submit(accepted, "test.ping")
    assert sorted(submitted.minions) == sorted(accepted)
    job = api.wait_job(submitted.jid, timeout=20)
    assert job.finished and job.fun == "test.ping" and sorted(job.minions) == sorted(accepted)
    assert all(r.ret is True and r.retcode == 0 for r in job.returns.values())
    history = api.jobs(search_function="test.ping")
    assert submitted.jid in {j.jid for j in history}
    assert all(j.fun == "test.ping" for j in history)


def test_a_refused_function_never_reaches_the_master(api, accepted):
    before = {j.jid for j in api.jobs()}
    for fun, arg in (("cmd.run", ["id"]), ("cmd.script", ["salt://x.sh"]), ("state.highstate", []),
                     ("cp.get_file", ["salt://a", "/tmp/a"]), ("event.send", ["x"])):
        with pytest.raises(SaltFunctionRefused):
            api.run(accepted, fun, arg)
    after = api.jobs()
    assert not [j for j in after if j.jid not in before and j.fun.split(".")[0] in ("cmd", "state", "cp", "event")]


def test_delete_then_reject_a_pending_key(api, pending_id, salt):
    fingerprint = salt.minion(pending_id).key_fingerprint
    # deleted while pending: the minion keeps asking, so its key comes back, pending, the same key
    api.delete(pending_id)
    key = poll(lambda: api.key(pending_id), lambda k: k is not None, timeout=20, what="the key to come back")
    assert key.state == KeyState.PENDING and key.fingerprint == fingerprint

    with pytest.raises(SaltFunctionRefused):  # a viewer may look, not reject
        api.as_role(SaltRole.VIEWER).reject(pending_id)
    assert api.reject(pending_id).state == KeyState.REJECTED
    with pytest.raises(SaltKeyRefused, match="not pending"):
        api.accept(pending_id, fingerprint)
    # a rejected minion gives up (Salt: "The Salt Minion will now exit"), so a deleted key stays gone
    api.delete(pending_id)
    assert api.key(pending_id) is None


def test_an_expired_token_is_renewed_once(salt, accepted):
    api = make_api(salt)
    assert api.ping([accepted[0]]).ok
    api._auth.token = "0" * 40  # what a master restart does to every token
    assert api.ping([accepted[0]]).ok


def test_failures_read_well(salt):
    username, _ = salt.credentials()
    with pytest.raises(SaltAuthFailed, match="refused"):
        SaltApi(salt.api_url, username, "not-the-password", salt.eauth, salt.ca_file).keys()
    with pytest.raises(SaltUnreachable, match="TLS"):  # the system CAs do not know the lab's certificate
        SaltApi(salt.api_url, username, "x", salt.eauth).keys()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(SaltUnreachable, match="connection failed"):
        SaltApi(f"https://127.0.0.1:{closed}", username, "x", salt.eauth, salt.ca_file).keys()


def test_a_trickling_salt_api_ends_at_the_deadline():
    with TrickleServer("https") as server:
        api = SaltApi(server.url, "u", "p", "file", timeout=2)
        api.verify = False  # the trickle server's own certificate
        start = time.monotonic()
        with pytest.raises(SaltTimeout, match="2 s deadline"):
            api.keys()
        assert time.monotonic() - start < 2 + 3.0  # slack for a shared 2-core machine; unbounded: 60 s
