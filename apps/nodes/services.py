"""Nodes: inventory changes, host-key decisions, and the SSH/BMC targets jobs use.

Every change is permission-checked through apps.rbac.permissions and audited.
"""
from __future__ import annotations

import binascii

from django.db import transaction
from django.db.models import Exists, OuterRef, ProtectedError, Q
from django.utils import timezone

from apps.core import netpolicy
from apps.core.audit import record_audit
from apps.core.errors import Conflict, Forbidden, InvalidInput
from apps.jobs import services as jobs
from apps.keyvault.services import check_binding
from apps.rbac.permissions import can, may_act_in_project, restrict

from .models import HostKey, HostKeyState, Node, NodeEvent
from .ssh import fingerprint as ssh_fingerprint

AUDITED_FIELDS = ["name", "address", "ssh_port", "ssh_user", "labels", "state", "project_id", "ssh_credential_id"]


def visible_nodes(user, action: str = "view"):
    return restrict(Node.objects.select_related("project", "bmc"), user, action)


# The node conditions the dashboard counts and the node list filters on: one definition, so a
# dashboard number and the list it links to cannot drift apart.
def has_pending_host_keys():
    return Exists(HostKey.objects.filter(node=OuterRef("pk"), state=HostKeyState.PENDING))


def bmc_poll_failed():
    return Q(bmc__isnull=False) & ~Q(bmc__poll_error="")


def _fields(node: Node) -> dict:
    return {f: getattr(node, f) for f in AUDITED_FIELDS}


# What decides where a bound SSH credential goes: changing any of them needs `use` on it.
SSH_DESTINATION_FIELDS = {"address", "ssh_port", "ssh_user", "ssh_credential_id"}


def check_address(address: str, field: str = "address") -> None:
    """Refuse addresses outside the managed networks (and loopback, link-local, the portal)."""
    try:
        netpolicy.check_registration(address)
    except netpolicy.AddressRefused as exc:
        raise InvalidInput({field: [str(exc)]}) from None


@transaction.atomic
def create_node(actor, *, host_keys: list[tuple[str, str]] = (), **fields) -> Node:
    """Register a node. Host keys supplied here are trusted at once (known out of band)."""
    if not may_act_in_project(actor, Node, fields.get("project"), "add"):
        raise Forbidden("You may not add nodes here.")
    node = Node(**fields)
    _validate(node)
    check_address(node.address)
    check_binding(actor, node.ssh_credential, node.address, "ssh_credential")
    node.save()
    for key_type, public_key in host_keys:
        trust_supplied_key(actor, node, key_type, public_key)
    record_audit("node.create", actor=actor, obj=node, after=_fields(node))
    return node


@transaction.atomic
def update_node(actor, node: Node, **changes) -> Node:
    if not can(actor, node, "change"):
        raise Forbidden("You may not change this node.")
    if "project" in changes and changes["project"] != node.project and \
            not may_act_in_project(actor, Node, changes["project"], "add"):
        raise Forbidden("You may not move the node to that project.")
    before = _fields(node)
    for field, value in changes.items():
        setattr(node, field, value)
    _validate(node)
    after = _fields(node)
    moved = {f for f in SSH_DESTINATION_FIELDS if before[f] != after[f]}
    if "address" in moved:
        check_address(node.address)
    if moved:
        # Where a bound secret goes is the secret's business: pointing it at a new address, port
        # or user needs `use` on it, and the address must lie within its destinations.
        check_binding(actor, node.ssh_credential, node.address, "ssh_credential")
    node.save()
    record_audit("node.update", actor=actor, obj=node, before=before, after=after)
    return node


def delete_node(actor, node: Node) -> None:
    if not can(actor, node, "delete"):
        raise Forbidden("You may not delete this node.")
    try:
        with transaction.atomic():
            record_audit("node.delete", actor=actor, obj=node, before=_fields(node))
            node.delete()
    except ProtectedError:
        raise Conflict(f"Node {node.name} is still in use; remove it from its cluster first.") from None


def has_bmc(node: Node) -> bool:
    return hasattr(node, "bmc")  # the reverse one-to-one raises (an AttributeError) when there is none


def deletion_effects(node: Node) -> dict:
    """What goes with a node when it is deleted, and what stands in the way (protected rows, e.g.
    cluster membership): said on the confirmation page before anything happens."""
    from django.db import router
    from django.db.models.deletion import Collector

    blockers = []
    try:
        Collector(using=router.db_for_write(Node)).collect([node])
    except ProtectedError as exc:
        blockers = sorted({f"{obj._meta.verbose_name} {obj}" for obj in exc.protected_objects})
    return {"host_keys": node.host_keys.count(), "bmc": has_bmc(node), "events": node.events.count(),
            "blockers": blockers}


def delete_nodes(actor, nodes: list[Node]) -> int:
    """Delete all of them or none; one audit entry per node (by delete_node)."""
    with transaction.atomic():
        for node in nodes:
            delete_node(actor, node)
    return len(nodes)


def start_power_jobs(actor, nodes: list[Node], action: str) -> list:
    """One `nodes.power` job per node (each BMC settles on its own and is followed on its own
    page), all or none: a node refused half-way rolls back the jobs before it (jobs are enqueued
    only once the transaction commits)."""
    with transaction.atomic():
        return [jobs.start_job(actor, "nodes.power", {"node": n.pk, "action": action}, target=n) for n in nodes]


def labels_in_use(user, limit: int = 200) -> list[str]:
    """The labels on the nodes the user sees: suggestions for the label field."""
    from django.db import connection
    from django.db.models import F, Func

    nodes = visible_nodes(user).order_by()
    if connection.vendor == "postgresql":
        each = nodes.annotate(label=Func(F("labels"), function="jsonb_array_elements_text"))
        return list(each.values_list("label", flat=True).distinct().order_by("label")[:limit])
    found = {label for labels in nodes.values_list("labels", flat=True) for label in labels or []}
    return sorted(found)[:limit]


def _validate(node: Node) -> None:
    from django.core.exceptions import ValidationError

    try:
        node.full_clean(exclude=["ssh_credential", "project"])
    except ValidationError as exc:
        raise InvalidInput(exc.message_dict) from None


# --- host keys ------------------------------------------------------------------------
def trust_supplied_key(actor, node: Node, key_type: str, public_key: str) -> HostKey:
    try:
        fp = ssh_fingerprint(public_key)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput({"host_keys": [f"{key_type}: not a base64 public key."]}) from None
    key, _ = HostKey.objects.update_or_create(
        node=node, key_type=key_type, public_key=public_key,
        defaults={"fingerprint": fp, "state": HostKeyState.TRUSTED, "decided_by": actor if getattr(
            actor, "is_authenticated", False) else None, "decided_at": timezone.now()})
    return key


def record_offered_key(node: Node, key_type: str, public_key: str, fp: str, *, mismatch: bool) -> HostKey:
    """A host offered a key we do not trust: keep it pending for an operator to decide."""
    key, created = HostKey.objects.get_or_create(node=node, key_type=key_type, public_key=public_key,
                                                 defaults={"fingerprint": fp})
    if created:
        kind = "hostkey.changed" if mismatch else "hostkey.new"
        message = (f"Host offered a DIFFERENT {key_type} key {fp}: refused (possible man-in-the-middle); "
                   "approve it only if the host was reinstalled." if mismatch
                   else f"Host offered an unknown {key_type} key {fp}: pending approval.")
        NodeEvent.objects.create(node=node, kind=kind, message=message, data={"fingerprint": fp})
    return key


@transaction.atomic
def decide_host_key(actor, key: HostKey, state: str) -> HostKey:
    if state not in (HostKeyState.TRUSTED, HostKeyState.REVOKED):
        raise InvalidInput({"state": ["Must be trusted or revoked."]})
    if not can(actor, key.node, "manage"):
        raise Forbidden("You may not manage this node's host keys.")
    before = {"state": key.state, "fingerprint": key.fingerprint}
    if state == HostKeyState.TRUSTED:
        # One trusted key per type: a reinstalled host replaces the old one.
        key.node.host_keys.filter(key_type=key.key_type, state=HostKeyState.TRUSTED).exclude(pk=key.pk).update(
            state=HostKeyState.REVOKED, decided_by=actor, decided_at=timezone.now())
    key.state, key.decided_by, key.decided_at = state, actor, timezone.now()
    key.save()
    NodeEvent.objects.create(node=key.node, kind=f"hostkey.{state}",
                             message=f"{key.key_type} key {key.fingerprint} {state} by {actor.get_username()}.")
    record_audit(f"node.hostkey_{state}", actor=actor, obj=key.node, before=before,
                 after={"state": state, "fingerprint": key.fingerprint})
    return key


def trusted_keys(node: Node) -> list[tuple[str, str]]:
    return list(node.host_keys.filter(state=HostKeyState.TRUSTED).values_list("key_type", "public_key"))


def mark_seen(node: Node, *, reachable: bool, reason: str = "") -> None:
    """Lifecycle after a contact attempt; maintenance and retired nodes keep their state."""
    updates = {"state_reason": reason[:300]}
    if reachable:
        updates["last_seen"] = timezone.now()
    if node.state in ("new", "ready", "unreachable"):
        updates["state"] = "ready" if reachable else "unreachable"
    Node.objects.filter(pk=node.pk).update(**updates)


@transaction.atomic
def set_bmc(actor, node: Node, *, driver, address, credential, port=None, system_id="", verify_tls=True):
    """Attach or replace a node's BMC. `credential` is a secret name the actor may see."""
    from apps.keyvault.models import Secret

    from .models import Bmc

    from django.core.exceptions import ValidationError

    from .validators import bmc_host

    if not can(actor, node, "manage"):
        raise Forbidden("You may not manage this node's BMC.")
    secret = restrict(Secret.objects.all(), actor, "view").filter(name=credential).first()
    if secret is None:
        raise InvalidInput({"bmc_credential": ["Unknown secret, or you may not use it."]})
    try:
        host = bmc_host(driver, address)
    except ValidationError as exc:
        raise InvalidInput({"bmc_address": exc.messages}) from None
    check_address(host, "bmc_address")
    check_binding(actor, secret, host, "bmc_credential")
    bmc, created = Bmc.objects.update_or_create(node=node, defaults={
        "driver": driver, "address": address, "port": port, "credential": secret, "system_id": system_id or "",
        "verify_tls": verify_tls})
    record_audit("node.bmc_set", actor=actor, obj=node,
                 after={"driver": driver, "address": address, "port": port, "system_id": system_id,
                        "credential": secret.name})
    return bmc


@transaction.atomic
def remove_bmc(actor, node: Node) -> None:
    """Detach the node's BMC: power actions and polls stop; the credential secret stays."""
    from .models import Bmc

    if not can(actor, node, "manage"):
        raise Forbidden("You may not manage this node's BMC.")
    bmc = Bmc.objects.filter(node=node).select_related("credential").first()
    if bmc is None:
        raise Conflict(f"Node {node.name} has no BMC.")
    before = {"driver": bmc.driver, "address": bmc.address, "port": bmc.port, "system_id": bmc.system_id,
              "credential": bmc.credential.name}
    bmc.delete()
    record_audit("node.bmc_remove", actor=actor, obj=node, before=before)
