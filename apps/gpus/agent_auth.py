"""Node agent credentials: enrollment through the key vault, Bearer authentication, revocation.

1. An operator (gpus.add_nodecredential and `change` on the node) issues a one-time token of the
   key vault's purpose `node-enrollment` for the node (`issue_enrollment_token`).
2. The agent posts it once to /api/v1/agent/enroll/; redeeming it (atomically, exactly once, in
   the key vault) delivers a new credential `anc1.<key_id>.<secret>` for that node. Only its
   SHA-256 is stored; the string exists in that one answer.
3. `NodeCredentialAuthentication` accepts `Authorization: Bearer <credential>`: request.user is
   AnonymousUser, request.auth is the NodeCredential (its `.node` is the node).
4. `revoke_credential` (admin action, API, node page) ends it: the next push answers 401.
Every change writes one audit entry.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import (BaseAuthentication, SessionAuthentication, TokenAuthentication,
                                           get_authorization_header)

from apps.core import request_context
from apps.core.audit import record_audit
from apps.core.errors import Conflict, Forbidden, InvalidInput
from apps.keyvault import onetime, purposes
from apps.nodes.models import Node
from apps.rbac.permissions import can, restrict

from .models_agent import NodeCredential

PURPOSE = "node-enrollment"
CREDENTIAL_VERSION = "anc1"
ENROLLMENT_TTL = 1800  # long enough to copy the command to the node; the key vault caps it
LAST_USED_EVERY = dt.timedelta(seconds=60)  # at most one write per credential per minute


# --- credential strings --------------------------------------------------------------------
def credential_hash(credential: str) -> str:
    return hashlib.sha256(credential.encode("utf-8")).hexdigest()


def new_credential() -> tuple[str, str]:
    """(key_id, credential string). 128-bit id to find the row, 256-bit secret."""
    key_id = secrets.token_hex(8)
    return key_id, f"{CREDENTIAL_VERSION}.{key_id}.{secrets.token_urlsafe(32)}"


def find_credential(credential: str) -> NodeCredential | None:
    """The active credential this string is, or None (unknown, malformed, revoked)."""
    parts = credential.split(".") if isinstance(credential, str) and len(credential) <= 200 else []
    if len(parts) != 3 or parts[0] != CREDENTIAL_VERSION:
        return None
    row = NodeCredential.objects.select_related("node").filter(key_id=parts[1], revoked_at__isnull=True).first()
    if row is None or not hmac.compare_digest(row.secret_hash, credential_hash(credential)):
        return None
    return row


# --- authentication ------------------------------------------------------------------------
class NodeCredentialAuthentication(BaseAuthentication):
    """`Authorization: Bearer anc1....` -> (AnonymousUser, NodeCredential). Other schemes: not ours."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Bearer: give exactly one node credential.")
        try:
            credential = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Bearer: the credential is not ASCII.") from None
        row = find_credential(credential)
        if row is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked node credential.")
        _touch(row, request_context.client_ip(request._request.META))
        return AnonymousUser(), row

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


# The telemetry endpoint's: the defaults (Token first, so anonymous calls get 401) plus the agent's.
TELEMETRY_AUTHENTICATION = [TokenAuthentication, NodeCredentialAuthentication, SessionAuthentication]


def _touch(row: NodeCredential, ip: str | None) -> None:
    now = timezone.now()
    if row.last_used_at and now - row.last_used_at < LAST_USED_EVERY and row.last_used_ip == ip:
        return
    NodeCredential.objects.filter(pk=row.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY) | ~Q(last_used_ip=ip)
    ).update(last_used_at=now, last_used_ip=ip)


# --- enrollment (a key vault purpose) ------------------------------------------------------
def _node_for(user, subject: str) -> Node:
    node = Node.objects.filter(name=subject).first()
    # Same answer for "missing" and "not yours": a hidden node's name is not confirmed.
    if node is None or not can(user, node, "view"):
        raise InvalidInput({"subject": [f"No node {subject!r} that you may see."]})
    if not can(user, node, "change"):
        raise Forbidden(f"Enrolling an agent for {node.name} needs `change` on the node.")
    return node


def _authorize_enrollment(user, subject: str) -> str:
    return str(_node_for(user, subject).pk)


def _deliver_enrollment(token) -> dict:
    node = Node.objects.filter(pk=token.subject_key).first() if token.subject_key.isdigit() else None
    if node is None:
        raise Conflict(f"Node {token.subject!r} no longer exists.")
    if token.created_by is None or not can(token.created_by, node, "change"):
        raise Conflict(f"The issuer of this token may no longer change node {node.name}.")
    key_id, credential = new_credential()
    row = NodeCredential.objects.create(node=node, key_id=key_id, secret_hash=credential_hash(credential),
                                        enrollment_token=token.pk, created_by=token.created_by,
                                        enrolled_from=token.consumed_by_ip)
    record_audit("gpus.agent.enroll", actor=token.created_by, obj=row, after={
        "node": node.name, "key_id": key_id, "token": token.token_prefix, "from": token.consumed_by_ip})
    return {"credential": credential, "key_id": key_id, "node": {"id": node.pk, "name": node.name},
            "telemetry_path": "/api/v1/telemetry/"}


purposes.register(purposes.TokenPurpose(
    PURPOSE, "Enroll a node's agent (exchanged once for a node credential)",
    _authorize_enrollment, _deliver_enrollment, permission="gpus.add_nodecredential"))


def issue_enrollment_token(user, node: Node, ttl: int | None = None, bind_ip: str | None = None):
    """(OneTimeToken row, token string) for `node`; the string is only in this return value."""
    ttl = ENROLLMENT_TTL if ttl is None else ttl
    return onetime.issue_token(user, PURPOSE, node.name, ttl=ttl, bind_ip=bind_ip)


TOKEN_FILE = "/etc/aimatrix-agent/token"
AGENT_ARCHIVE_PATH = "/agent/aimatrix-agent.pyz"


def install_command(portal_url: str, token_file: str = TOKEN_FILE) -> str:
    """The one command that installs and starts the agent on a node (as root): it fetches the
    agent (one zip of aimatrix_agent/, stdlib only) from the portal, reads the enrollment token
    from the operator's terminal into a mode-600 file (never on a command line) and starts it."""
    url = portal_url.rstrip("/")
    return (f"sudo sh -c 'umask 077 && mkdir -p /etc/aimatrix-agent /var/lib/aimatrix-agent && "
            f"curl -fsS -o /var/lib/aimatrix-agent/agent.pyz {url}{AGENT_ARCHIVE_PATH} && "
            f"printf \"Enrollment token: \" && read -r T </dev/tty && printf \"%s\\n\" \"$T\" > {token_file} && "
            f"exec python3 /var/lib/aimatrix-agent/agent.pyz --url {url} --token-file {token_file}'")


def run_command(portal_url: str, token_file: str = TOKEN_FILE) -> str:
    return f"python3 -m aimatrix_agent --url {portal_url.rstrip('/')} --token-file {token_file}"


class NotEnrollmentToken(InvalidInput):
    pass


def enroll(token, timestamp, ip: str | None, hostname: str = "") -> dict:
    """Redeem an enrollment token (and nothing else: a `secret` token is refused unconsumed)."""
    from apps.keyvault import tokens

    if isinstance(token, str):
        try:
            claims = tokens.parse(token)
        except tokens.TokenForged:
            claims = None  # the key vault refuses it with its own code and logs the attempt
        if claims is not None and claims.purpose != PURPOSE:
            raise NotEnrollmentToken({"token": [f"This is a {claims.purpose!r} token, not a node enrollment token."]})
    body = onetime.redeem(token, timestamp, ip)
    if hostname:
        NodeCredential.objects.filter(key_id=body["key_id"]).update(hostname=str(hostname)[:200])
    return body


# --- listing and revocation ----------------------------------------------------------------
def visible_credentials(user):
    return restrict(NodeCredential.objects.select_related("node", "created_by", "revoked_by"), user, "view")


def revoke_credential(user, credential: NodeCredential, reason: str = "") -> NodeCredential:
    if not can(user, credential, "view"):
        raise Forbidden("You may not see this credential.")
    if not (can(user, credential, "change") and can(user, credential.node, "change")):
        raise Forbidden("Revoking an agent credential needs gpus.change_nodecredential and `change` on its node.")
    if not isinstance(reason, str) or len(reason) > 200:
        raise InvalidInput({"reason": ["At most 200 characters."]})
    now = timezone.now()
    with transaction.atomic():
        changed = NodeCredential.objects.filter(pk=credential.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=user if user.is_authenticated else None, revoked_reason=reason)
        credential.refresh_from_db()
        if not changed:
            raise Conflict(f"Credential {credential.key_id} of {credential.node.name} is already revoked.")
        record_audit("gpus.agent.revoke", actor=user, obj=credential, before={"state": "active"},
                     after={"state": "revoked", "node": credential.node.name, "key_id": credential.key_id,
                            "reason": reason})
    return credential
