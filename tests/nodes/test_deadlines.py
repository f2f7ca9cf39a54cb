"""Every outside call ends at its wall-clock deadline, however slowly the far end trickles.

The trickling servers (tests/nodes/trickle.py) send one byte a second: each read succeeds, so
per-read timeouts never fire; without a deadline each call here would last a minute (the
servers stop after 60 bytes). Real clients (sushy over requests, paramiko, ipmitool) throughout.
"""
from __future__ import annotations

import socket
import time

import pytest
import requests

from apps.core import deadline, deadline_http
from apps.nodes import ssh
from apps.nodes.bmc import BmcError, BmcTimeout, wait_for_power
from apps.nodes.ipmi import IpmiClient
from apps.nodes.redfish import RedfishClient

from ..conftest import wait_for
from .trickle import TrickleServer

SLACK = 3.0  # scheduling on a shared 2-core machine; the unbounded call would take 60 s


def test_redfish_request_to_a_trickling_bmc_ends_at_the_clients_timeout():
    with TrickleServer("https") as bmc:
        client = RedfishClient(bmc.url, "admin", "pw", verify=False, timeout=2)
        start = time.monotonic()
        with pytest.raises(BmcTimeout) as caught:
            client.power_state()
        took = time.monotonic() - start
    assert took < 2 + SLACK, took
    message = str(caught.value)
    assert bmc.url in message and "read power state" in message and "2 s deadline" in message, message


def test_a_job_deadline_shorter_than_the_request_timeout_wins_and_is_named():
    with TrickleServer("https") as bmc:
        client = RedfishClient(bmc.url, "admin", "pw", verify=False, timeout=30)
        start = time.monotonic()
        with deadline.within(2, "power on of node7"), pytest.raises(BmcTimeout) as caught:
            wait_for_power(client, "on", 30, poll_interval=0.2)
        took = time.monotonic() - start
        # The server saw its connection closed at the deadline, not kept open until it gave up.
        wait_for(lambda: bmc.closed_after, timeout=5, message="the BMC seeing its connection closed")
    assert took < 2 + SLACK, took
    assert "power on of node7" in str(caught.value) and "2 s deadline" in str(caught.value)
    assert max(bmc.closed_after) < 2 + SLACK


def test_a_bmc_stuck_inside_the_tls_handshake_is_cut_too():
    with TrickleServer("tls-handshake") as server:
        session = requests.Session()
        deadline_http.mount(session)
        start = time.monotonic()
        with deadline.within(1.5, "GET /redfish/v1/"), pytest.raises(deadline.DeadlineExceeded):
            session.get(server.url + "/redfish/v1/", verify=False, timeout=30)
        assert time.monotonic() - start < 1.5 + SLACK


def test_out_of_time_means_no_new_request_at_all():
    with TrickleServer("https") as bmc:
        client = RedfishClient(bmc.url, "admin", "pw", verify=False, timeout=5)
        with deadline.within(0.01, "job"):
            time.sleep(0.05)
            with pytest.raises(BmcError, match="deadline"):
                client.power_state()
        time.sleep(0.2)
        assert bmc.closed_after == []  # never connected


def _key_text() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()


def test_ssh_host_trickling_its_banner_fails_within_the_connect_bound():
    pool = ssh.SSHPool(connect_timeout=1.5, auth_timeout=1.5)
    with TrickleServer("ssh") as host:
        start = time.monotonic()
        with pytest.raises(ssh.ConnectFailed):
            pool.run(ssh.Endpoint("127.0.0.1", host.port, "root"), ssh.Credentials(private_key=_key_text()), [],
                     ["true"], timeout=5)
        took = time.monotonic() - start
    pool.close_all()
    assert took < 3 + SLACK, took


def test_ssh_connect_ends_at_the_jobs_deadline_and_names_it():
    pool = ssh.SSHPool(connect_timeout=30, auth_timeout=30)
    with TrickleServer("ssh") as host:
        start = time.monotonic()
        with deadline.within(1.5, "probe of node2"), pytest.raises(ssh.ConnectFailed) as caught:
            pool.run(ssh.Endpoint("127.0.0.1", host.port, "root"), ssh.Credentials(private_key=_key_text()), [],
                     ["true"], timeout=30)
        took = time.monotonic() - start
    pool.close_all()
    assert took < 1.5 + SLACK, took
    assert "1.5 s deadline of probe of node2" in str(caught.value), str(caught.value)


def test_ipmi_call_is_clamped_to_the_running_deadline():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # a BMC that never answers
        silent.bind(("127.0.0.1", 0))
        client = IpmiClient("127.0.0.1", "admin", "pw", port=silent.getsockname()[1], timeout=30,
                            request_timeout=5, retries=3)
        start = time.monotonic()
        with deadline.within(1.5, "power off of node3"), pytest.raises(BmcTimeout) as caught:
            client.power_state()
        took = time.monotonic() - start
    assert took < 1.5 + SLACK, took
    assert "power off of node3" in str(caught.value)


def test_deadline_cuts_only_its_own_connections():
    """Nested deadlines: the earliest one governs; a finished deadline leaves the socket alone."""
    a, b = socket.socketpair()
    with a, b:
        with deadline.within(60, "outer") as outer, deadline.within(30, "inner") as inner:
            assert deadline.current() is inner and deadline.remaining(5) == 5
            deadline.guard(a)
        assert deadline.current() is None and not outer.fired and not inner.fired
        b.sendall(b"x")
        assert a.recv(1) == b"x"  # still usable: the deadlines ended before they passed
        with deadline.within(0.2, "short"):
            deadline.guard(a)
            a.settimeout(10)
            start = time.monotonic()
            assert a.recv(1) == b""  # shut down at the deadline, long before the 10 s read timeout
            assert time.monotonic() - start < 0.2 + SLACK
            with pytest.raises(deadline.DeadlineExceeded, match="short: no complete answer within the 0.2 s"):
                deadline.check()
