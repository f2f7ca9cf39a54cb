"""Reach a node: SSH with the node's vault credential and trusted host keys, or its BMC.

Host keys the node offers but we do not trust are recorded as pending (or flagged as changed)
and the attempt fails with a clear reason; an operator approves them on the node page.

Before anything is sent, the address is resolved and checked against the managed networks and
the credential's destinations; the connection then goes to the address that was checked.
"""
from __future__ import annotations

from apps.core import dbconn, netpolicy
from apps.keyvault.destinations import DestinationRefused
from apps.keyvault.services import split_bmc_credentials, use_secret

from . import services, ssh
from .models import Node
from .validators import bmc_host


class NodeUnavailable(Exception):
    """A readable reason why a node could not be reached; nothing secret in it."""


def _checked(name: str, host: str, port: int | None) -> list:
    try:
        return netpolicy.check_host(host, port)
    except netpolicy.AddressRefused as exc:
        raise NodeUnavailable(f"{name}: refused: {exc}") from None


def _use(secret, purpose: str, actor, name: str, host: str, addresses) -> str:
    try:
        return use_secret(secret, purpose, actor, destination=(host, addresses))
    except DestinationRefused as exc:
        raise NodeUnavailable(f"{name}: refused: {exc}") from None


def _credentials(node: Node, purpose: str, actor, addresses) -> ssh.Credentials:
    if node.ssh_credential is None:
        raise NodeUnavailable(f"{node.name} has no SSH credential in the key vault.")
    value = _use(node.ssh_credential, purpose, actor, node.name, node.address, addresses)
    if "PRIVATE KEY" in value:
        return ssh.Credentials(private_key=value)
    return ssh.Credentials(password=value)


def run(node: Node, argv: list[str], *, timeout: float, purpose: str, stdin=None, actor=None,
        max_output: int | None = None) -> ssh.Result:
    """Run one command on a node; updates its lifecycle state from the outcome. `actor`: the
    user on whose behalf (a job's requester), for the secret access log. `max_output`: bytes kept
    of stdout (default ssh.MAX_OUTPUT; a large queue listing needs more)."""
    addresses = _checked(node.name, node.address, node.ssh_port)
    creds = _credentials(node, purpose, actor, addresses)
    endpoint = ssh.Endpoint(str(addresses[0]), node.ssh_port, node.ssh_user)
    trusted = services.trusted_keys(node)
    dbconn.release()  # not held through the command (a pooled connection would starve other threads)
    try:
        result = ssh.run(endpoint, creds, trusted, argv, stdin=stdin, timeout=timeout,
                         max_output=max_output or ssh.MAX_OUTPUT)
    except ssh.HostKeyUnknown as exc:
        services.record_offered_key(node, exc.key_type, exc.public_key, exc.fingerprint, mismatch=False)
        services.mark_seen(node, reachable=False, reason="host key not yet approved")
        raise NodeUnavailable(f"{node.name}: unknown host key {exc.fingerprint} recorded as pending; "
                              "approve it on the node page, then retry.") from None
    except ssh.HostKeyMismatch as exc:
        services.record_offered_key(node, exc.key_type, exc.public_key, exc.fingerprint, mismatch=True)
        services.mark_seen(node, reachable=False, reason="host key changed")
        raise NodeUnavailable(f"{node.name}: HOST KEY CHANGED (now {exc.fingerprint}); connection refused. "
                              "If the host was reinstalled, approve the new key on the node page.") from None
    except ssh.CommandTimeout as exc:
        raise NodeUnavailable(f"{node.name}: {exc}") from None
    except ssh.SSHError as exc:
        services.mark_seen(node, reachable=False, reason=str(exc))
        raise NodeUnavailable(f"{node.name}: {exc}") from None
    services.mark_seen(node, reachable=True)
    return result


def run_bounded(node: Node, argv: list[str], *, timeout: float, purpose: str, stdin=None, actor=None) -> ssh.Result:
    """run() with the command under timeout(1) on the host, which bounds it even where sshd ignores
    our kill (root sessions); exit status 124 when that fires. The SSH deadline allows 10 s more."""
    return run(node, ssh.remote_timeout(list(argv), timeout), timeout=timeout + 10, purpose=purpose, stdin=stdin,
               actor=actor)


def bmc_client(node: Node, purpose: str, actor=None):
    """A client for the node's BMC, its address and credential checked as for SSH. IPMI is sent to
    the checked address itself; Redfish keeps its host name (TLS verifies it)."""
    from django.core.exceptions import ValidationError

    from .bmc import make_client

    bmc = getattr(node, "bmc", None)
    if bmc is None:
        raise NodeUnavailable(f"{node.name} has no BMC configured.")
    try:
        host = bmc_host(bmc.driver, bmc.address)
    except ValidationError as exc:
        raise NodeUnavailable(f"{node.name}: BMC address refused: {' '.join(exc.messages)}") from None
    addresses = _checked(node.name, host, bmc.port)
    pair = split_bmc_credentials(_use(bmc.credential, purpose, actor, node.name, host, addresses))
    if pair is None:
        raise NodeUnavailable(f"{node.name}: BMC credential {bmc.credential.name!r} is not in 'username:password' "
                              "form; set a new value in the key vault.")
    address = str(addresses[0]) if bmc.driver == "ipmi" else bmc.address
    return make_client(bmc.driver, address=address, port=bmc.port, username=pair[0], password=pair[1],
                      system_id=bmc.system_id, verify_tls=bmc.verify_tls)
