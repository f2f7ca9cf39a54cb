"""Salt enrollment of a node: one-time token -> master key and minion settings -> reported fingerprint
-> key accepted only when it matches -> ping.

1. An operator enrolls a node (`issue`): the key vault issues a one-time token of purpose
   `salt-enrollment` (the issue's node_enrollment; the GPU agent has its own `node-enrollment`)
   for the node, and the portal shows the bootstrap command (scripts/salt-bootstrap.sh).
2. The bootstrap redeems the token once (`redeem`, POST /api/v1/salt/enroll/): it gets the
   master's address, public key and `master_finger` fingerprint, its minion id, and a short-lived
   report token (only its SHA-256 is stored).
3. After starting the minion it reports its key's fingerprint (`report`, POST
   /api/v1/salt/enroll/report/: sha256 of its stripped minion.pub, the master-side form); the
   portal starts the job `salt.accept_enrolled`, which accepts the pending key only if the master
   holds that very key, then pings it. A minion with another key under that id stays pending.
The seed's HMAC request (`hmac_enroll`: `minion_id|timestamp|nonce` signed with the master's
shared secret from the vault, 5-minute window, nonce single use) is the other way in, for a node
already registered; its reported key is accepted by the next refresh.
Every refusal (stolen, replayed, expired, forged token or request) writes `salt.enroll.refused`.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import math
import re
import secrets
import time

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.audit import record_audit
from apps.core.errors import Conflict, Forbidden, InvalidInput, ServiceError
from apps.keyvault import onetime, purposes, tokens
from apps.keyvault.destinations import DestinationRefused
from apps.keyvault.services import use_secret
from apps.rbac.permissions import can

from .models import Node
from .salt import check_minion_id
from .salt import hmac_enroll as hmac_client
from .salt_models import (EnrollmentMethod, EnrollmentState, HmacNonce, SaltEnrollment, SaltKeyState, SaltMaster,
                          SaltMinion)
from .salt_services import default_master

PURPOSE = "salt-enrollment"
TOKEN_TTL = 900            # seconds: long enough to paste the command on the node
REPORT_TTL = 900           # seconds between redemption and the fingerprint report
HMAC_WINDOW_S = 300
BOOTSTRAP_PATH = "/api/v1/salt/bootstrap.sh"
REDEEM_PATH = "/api/v1/salt/enroll/"
REPORT_PATH = "/api/v1/salt/enroll/report/"
FINGERPRINT = re.compile(r"^([0-9a-f]{2}:){31}[0-9a-f]{2}$")
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class EnrollmentRefused(ServiceError):
    """A token, report or HMAC request that gets nothing; `status` 401/403/409/410, audited."""

    def __init__(self, code: str, message: str, status: int = 403):
        super().__init__(message)
        self.code, self.status = code, status

    def as_dict(self) -> dict:
        return {"code": self.code, "detail": self.message}


def _refused(code: str, message: str, status: int, ip, **data) -> EnrollmentRefused:
    record_audit("salt.enroll.refused", after={"code": str(code), "detail": message[:200], "ip": ip, **data})
    return EnrollmentRefused(str(code), message, status)


# --- the key vault purpose --------------------------------------------------------------------
def _node_for(user, subject: str) -> Node:
    node = Node.objects.filter(name=subject).first()
    if node is None or not can(user, node, "view"):
        raise InvalidInput({"subject": [f"No node {subject!r} that you may see."]})
    if not can(user, node, "change"):
        raise Forbidden(f"Enrolling {node.name} in Salt needs `change` on the node.")
    return node


def _authorize(user, subject: str) -> str:
    return str(_node_for(user, subject).pk)


def master_endpoint(master: SaltMaster) -> tuple[str, int]:
    host, _, port = master.master_address.rpartition(":") if master.master_address.count(":") == 1 else \
        (master.master_address, "", "")
    return (host or master.master_address), int(port) if port.isdigit() else 4506


def _deliver(token) -> dict:
    enrollment = (SaltEnrollment.objects.select_for_update(of=("self",)).select_related("master", "node")
                  .filter(token_id=token.pk).first())
    if enrollment is None or enrollment.state != EnrollmentState.ISSUED:
        raise Conflict("This enrollment is no longer open.")
    node = enrollment.node
    if node is None or token.created_by is None or not can(token.created_by, node, "change"):
        raise Conflict("The issuer of this token may no longer enroll this node.")
    report_token = secrets.token_urlsafe(32)
    enrollment.report_hash = hashlib.sha256(report_token.encode()).hexdigest()
    enrollment.report_expires_at = timezone.now() + dt.timedelta(seconds=REPORT_TTL)
    enrollment.state, enrollment.redeemed_from = EnrollmentState.REDEEMED, token.consumed_by_ip
    enrollment.save(update_fields=["report_hash", "report_expires_at", "state", "redeemed_from", "updated_at"])
    _minion_row(enrollment)
    record_audit("salt.enroll.redeem", actor=token.created_by, obj=enrollment,
                 after={"minion_id": enrollment.minion_id, "node": node.name, "from": token.consumed_by_ip})
    return _settings(enrollment, report_token)


def _settings(enrollment: SaltEnrollment, report_token: str) -> dict:
    host, port = master_endpoint(enrollment.master)
    return {"minion_id": enrollment.minion_id,
            "master": {"address": host, "port": port, "public_key": enrollment.master.public_key.strip() + "\n",
                       "fingerprint": enrollment.master.fingerprint},
            "report_token": report_token, "report_path": REPORT_PATH,
            "report_expires_at": enrollment.report_expires_at.isoformat()}


def _minion_row(enrollment: SaltEnrollment) -> SaltMinion:
    row, _ = SaltMinion.objects.get_or_create(master=enrollment.master, minion_id=enrollment.minion_id)
    if enrollment.node_id and row.node_id is None and not SaltMinion.objects.filter(node_id=enrollment.node_id).exists():
        row.node_id = enrollment.node_id
        row.save(update_fields=["node", "updated_at"])
    return row


purposes.register(purposes.TokenPurpose(
    PURPOSE, "Enroll a node's Salt minion (exchanged once for the master's key and the minion settings)",
    _authorize, _deliver, permission="nodes.add_saltminion"))


# --- issue ------------------------------------------------------------------------------------
def bootstrap_command(portal_url: str) -> str:
    """One line for the node (as root). The token is read from the terminal, never from the
    command line (where `ps` and the shell history would keep it)."""
    url = portal_url.rstrip("/")
    return (f"curl -fsS {url}{BOOTSTRAP_PATH} -o /tmp/aimx-salt-bootstrap.sh && "
            f"sudo sh /tmp/aimx-salt-bootstrap.sh --portal {url}")


def issue(user, node: Node, *, master: SaltMaster | None = None, minion_id: str = "", ttl: int | None = None,
          portal_url: str = "", method: EnrollmentMethod = EnrollmentMethod.TOKEN) -> dict:
    """Open an enrollment for `node`: {enrollment, token, command, expires_at}. The token string
    exists only in this answer. The key vault's `keyvault.token.issue` is the one audit entry."""
    _node_for(user, node.name)
    if not user.has_perm("nodes.add_saltminion"):
        raise Forbidden("Enrolling nodes in Salt needs nodes.add_saltminion.")
    master = master or default_master()
    if master is None:
        raise InvalidInput({"master": ["Choose the Salt master (none, or several, are configured)."]})
    minion_id = minion_id or node.name
    try:
        check_minion_id(minion_id)
    except ValueError as exc:
        raise InvalidInput({"minion_id": [str(exc)]}) from None
    taken = SaltMinion.objects.filter(master=master, minion_id=minion_id).exclude(node=node).exclude(node=None)
    if taken.exists():
        raise InvalidInput({"minion_id": [f"Minion id {minion_id} belongs to another node."]})
    with transaction.atomic():
        row, token = onetime.issue_token(user, PURPOSE, node.name, ttl=TOKEN_TTL if ttl is None else ttl)
        enrollment = SaltEnrollment.objects.create(master=master, node=node, minion_id=minion_id, token=row,
                                                   created_by=user, method=method)
    return {"enrollment": enrollment, "token": token, "expires_at": row.expires_at,
            "command": bootstrap_command(portal_url)}


# --- redeem and report (no login: the tokens are the credentials) ---------------------------
def redeem(token, timestamp, ip) -> dict:
    """The bootstrap's first call. Refusals are audited; the key vault logs each attempt too."""
    if isinstance(token, str):
        try:
            claims = tokens.parse(token)
        except tokens.TokenForged:
            claims = None
        if claims is not None and claims.purpose != PURPOSE:
            raise _refused("wrong_purpose", "This is not a Salt enrollment token.", 403, ip)
    try:
        body = onetime.redeem(token, timestamp, ip)
    except onetime.RedeemRefused as exc:
        raise _refused(exc.code, exc.message, exc.status, ip) from None
    return {k: body[k] for k in ("minion_id", "master", "report_token", "report_path", "report_expires_at")}


def report(report_token, fingerprint, ip):
    """The bootstrap's second call: the minion's own key fingerprint. Single use, short-lived.
    Returns (enrollment, job or None)."""
    from apps.jobs.services import start_job

    if not isinstance(fingerprint, str) or not FINGERPRINT.fullmatch(fingerprint.strip().lower()):
        raise InvalidInput({"fingerprint": ["sha256 of the minion's minion.pub, as aa:bb:... (32 pairs)."]})
    if not isinstance(report_token, str) or not 20 <= len(report_token) <= 200:
        raise _refused("invalid", "A report token is required.", 401, ip)
    digest = hashlib.sha256(report_token.encode()).hexdigest()
    now = timezone.now()
    # The conditional UPDATE is the single use: only one report can move REDEEMED -> REPORTED.
    won = SaltEnrollment.objects.filter(report_hash=digest, state=EnrollmentState.REDEEMED,
                                        report_expires_at__gt=now).update(
        state=EnrollmentState.REPORTED, reported_fingerprint=fingerprint.strip().lower(), updated_at=now)
    if won != 1:
        raise _refused("report_refused", "Unknown, used or expired report token.", 401, ip)
    with transaction.atomic():
        enrollment = SaltEnrollment.objects.select_related("master", "node", "created_by").get(report_hash=digest)
        job = None
        # A batch install's job waits for this report and accepts the key itself.
        if enrollment.created_by is not None and enrollment.method != EnrollmentMethod.BATCH:
            job = start_job(enrollment.created_by, "salt.accept_enrolled", {"enrollment": enrollment.pk}, audit=False)
        record_audit("salt.enroll.report", actor=enrollment.created_by, obj=enrollment, after={
            "minion_id": enrollment.minion_id, "fingerprint": enrollment.reported_fingerprint, "from": ip,
            "job": job.pk if job else None})
    return enrollment, job


def finish(enrollment: SaltEnrollment, *, ok: bool, detail: str, key=None, actor=None) -> None:
    enrollment.state = EnrollmentState.ACCEPTED if ok else EnrollmentState.FAILED
    enrollment.detail = detail[:300]
    enrollment.save(update_fields=["state", "detail", "updated_at"])
    if ok and key is not None:
        SaltMinion.objects.filter(master=enrollment.master, minion_id=enrollment.minion_id).update(
            key_state=SaltKeyState.ACCEPTED, key_fingerprint=key.fingerprint or "", key_seen_at=timezone.now())
    record_audit("salt.enroll.accept" if ok else "salt.enroll.fail", actor=actor or enrollment.created_by,
                 obj=enrollment, after={"minion_id": enrollment.minion_id, "detail": detail[:200],
                                        "fingerprint": enrollment.reported_fingerprint})


# --- the seed's HMAC request ------------------------------------------------------------------
def hmac_signature(secret: str, minion_id: str, timestamp: int, nonce: str) -> str:
    """What a client sends as `signature` (apps/nodes/salt/hmac_enroll.py computes the same)."""
    return hmac_client.signature(secret, minion_id, timestamp, nonce)


def hmac_enroll(minion_id, timestamp, nonce, signature, ip, *, master: SaltMaster | None = None) -> dict:
    """Verify a signed request from a registered node's minion and answer as a token redemption does."""
    master = master or default_master()
    if master is None or master.hmac_secret_id is None:
        raise _refused("unavailable", "HMAC enrollment is not configured.", 403, ip)
    if not isinstance(minion_id, str) or not isinstance(nonce, str) or not isinstance(signature, str) \
            or isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)) or not math.isfinite(timestamp):
        raise _refused("invalid", "minion_id, timestamp, nonce and signature are required.", 401, ip)
    try:
        check_minion_id(minion_id)
    except ValueError:
        raise _refused("invalid", "Not a valid minion id.", 401, ip) from None
    if not NONCE.fullmatch(nonce):
        raise _refused("invalid", "The nonce is 16-64 letters, digits, '-' or '_'.", 401, ip)
    if abs(time.time() - timestamp) > HMAC_WINDOW_S:
        raise _refused("stale_timestamp", f"The timestamp is outside the {HMAC_WINDOW_S} s window.", 401, ip,
                       minion_id=minion_id)
    try:
        secret = use_secret(master.hmac_secret, "salt HMAC enrollment check", f"enrollment from {ip}",
                            destination=(ip or "", [ipaddress.ip_address(ip)] if ip else []))
    except DestinationRefused:
        raise _refused("wrong_ip", "HMAC enrollment is not allowed from this address.", 403, ip) from None
    expected = hmac_signature(secret, minion_id, int(timestamp), nonce)
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise _refused("forged", "The signature does not match.", 403, ip, minion_id=minion_id)
    node = Node.objects.filter(name=minion_id).first()
    if node is None:
        raise _refused("unknown", "No node of that name is registered.", 403, ip, minion_id=minion_id)
    try:
        with transaction.atomic():
            HmacNonce.objects.create(master=master, nonce=nonce)
    except IntegrityError:
        raise _refused("replayed", "This nonce was already used.", 403, ip, minion_id=minion_id) from None
    HmacNonce.objects.filter(created_at__lt=timezone.now() - dt.timedelta(seconds=4 * HMAC_WINDOW_S)).delete()
    report_token = secrets.token_urlsafe(32)
    with transaction.atomic():
        enrollment = SaltEnrollment.objects.create(
            master=master, node=node, minion_id=minion_id, method=EnrollmentMethod.HMAC,
            state=EnrollmentState.REDEEMED, redeemed_from=ip,
            report_hash=hashlib.sha256(report_token.encode()).hexdigest(),
            report_expires_at=timezone.now() + dt.timedelta(seconds=REPORT_TTL))
        _minion_row(enrollment)
        record_audit("salt.enroll.hmac", obj=enrollment, after={"minion_id": minion_id, "from": ip})
    return _settings(enrollment, report_token)
