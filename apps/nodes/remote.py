"""Reach a node: SSH with the node's vault credential and trusted host keys, or its BMC.

Host keys the node offers but we do not trust are recorded as pending (or flagged as changed)
and the attempt fails with a clear reason; an operator approves them on the node page.
"""
from __future__ import annotations

from apps.keyvault.services import use_secret

from . import services, ssh
from .models import Node


class NodeUnavailable(Exception):
    """A readable reason why a node could not be reached; nothing secret in it."""


def _credentials(node: Node, purpose: str) -> ssh.Credentials:
    if node.ssh_credential is None:
        raise NodeUnavailable(f"{node.name} has no SSH credential in the key vault.")
    value = use_secret(node.ssh_credential, purpose)
    if "PRIVATE KEY" in value:
        return ssh.Credentials(private_key=value)
    return ssh.Credentials(password=value)


def run(node: Node, argv: list[str], *, timeout: float, purpose: str, stdin=None) -> ssh.Result:
    """Run one command on a node; updates its lifecycle state from the outcome."""
    endpoint = ssh.Endpoint(node.address, node.ssh_port, node.ssh_user)
    try:
        result = ssh.run(endpoint, _credentials(node, purpose), services.trusted_keys(node), argv,
                         stdin=stdin, timeout=timeout)
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


def bmc_client(node: Node, purpose: str):
    from .bmc import make_client

    bmc = getattr(node, "bmc", None)
    if bmc is None:
        raise NodeUnavailable(f"{node.name} has no BMC configured.")
    username, _, password = use_secret(bmc.credential, purpose).partition(":")
    return make_client(bmc.driver, address=bmc.address, port=bmc.port, username=username, password=password,
                      system_id=bmc.system_id, verify_tls=bmc.verify_tls)
