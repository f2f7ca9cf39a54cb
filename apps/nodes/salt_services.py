"""Salt in the portal: masters, minion keys, execution through the function policy.

Views, API, admin and jobs call these; each change checks permission, writes ONE audit entry.
A call the function policy refuses (apps.nodes.salt.policy, the caller's Salt role from
salt_roles) raises SaltCallRefused (403, naming the function) and writes a `salt.refused` audit
entry, on whichever path it came (API, page, admin, job). The master never auto-accepts: a key
is accepted only with the fingerprint the operator typed or the enrolling minion reported.
"""
from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core import netpolicy
from apps.core.audit import record_audit
from apps.core.errors import Conflict, Forbidden, InvalidInput
from apps.keyvault.destinations import DestinationRefused
from apps.keyvault.services import split_bmc_credentials, use_secret
from apps.rbac.permissions import can, restrict

from .models import Node
from .salt import (HardwareSummary, KeyState, SaltApi, SaltError, SaltFunctionRefused, SaltKeyRefused,
                   check_minion_id)
from .salt.policy import SaltClientKind
from .salt.results import fingerprints_match, normalize_fingerprint
from .salt_models import SaltKeyState, SaltMaster, SaltMinion, SaltRun
from .salt_roles import policy, salt_role_for

REFUSED_ACTION = "salt.refused"
KEY_CALL_TIMEOUT = 20.0


class SaltUnavailable(Conflict):
    """The master could not be reached or answered with an error; a readable reason."""


class SaltCallRefused(Forbidden):
    """The function policy refused the call (403); the refusal is audited."""

    def __init__(self, message: str, fun: str):
        super().__init__(message)
        self.fun = fun

    def as_dict(self) -> dict:
        return {"detail": self.message, "function": self.fun}


# --- visibility --------------------------------------------------------------------------
def visible_minions(user):
    return restrict(SaltMinion.objects.select_related("master", "node"), user, "view")


def visible_runs(user):
    return restrict(SaltRun.objects.select_related("master", "requested_by", "job"), user, "view")


def default_master() -> SaltMaster | None:
    masters = list(SaltMaster.objects.all()[:2])
    return masters[0] if len(masters) == 1 else None


# --- the client -------------------------------------------------------------------------
def ca_file(master: SaltMaster) -> str | None:
    """salt-api's CA as a file path: the stored path, or the stored PEM written once under VAR_DIR."""
    value = (master.ca_certificate or "").strip()
    if not value:
        return None
    if not value.startswith("-----BEGIN"):
        return value
    directory = settings.VAR_DIR / "salt-ca"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{hashlib.sha256(value.encode()).hexdigest()[:24]}.pem"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(value + "\n")
        tmp.replace(path)
    return str(path)


def client_for(master: SaltMaster, *, actor, purpose: str, role: str) -> SaltApi:
    """A salt-api client calling as the Salt `role`. The credential is read from the vault only
    for salt-api's host, and only if that host lies within the secret's destinations."""
    host = urlsplit(master.api_url).hostname or ""
    try:
        addresses = netpolicy.resolve(host)
    except netpolicy.AddressRefused as exc:
        raise SaltUnavailable(f"Salt master {master.name}: {exc}") from None
    try:
        value = use_secret(master.credential, purpose, actor, destination=(host, addresses))
    except DestinationRefused as exc:
        raise SaltUnavailable(f"Salt master {master.name}: refused: {exc}") from None
    pair = split_bmc_credentials(value)
    if pair is None:
        raise SaltUnavailable(f"Salt master {master.name}: its credential is not 'username:password'.")
    try:
        return SaltApi(master.api_url, pair[0], pair[1], master.eauth, ca_file(master), timeout=KEY_CALL_TIMEOUT,
                       policy=policy(), role=role)
    except ValueError as exc:
        raise SaltUnavailable(f"Salt master {master.name}: {exc}") from None


def refuse(user, exc: SaltFunctionRefused, *, path: str, master: SaltMaster | None = None, target=None):
    """Audit a refused call and turn it into the 403 that names the function."""
    record_audit(REFUSED_ACTION, actor=user, obj=master, after={
        "function": exc.fun, "client": exc.client, "role": exc.role, "reason": exc.reason, "path": path,
        "target": list(target) if isinstance(target, (list, tuple)) else target})
    return SaltCallRefused(f"Salt function {exc.fun} refused: {exc.reason}.", exc.fun)


def check_call(user, master, fun: str, arg=(), kwarg=None, *, path: str, target=None,
               client: str = SaltClientKind.LOCAL) -> str:
    """The caller's Salt role if the policy allows the call; SaltCallRefused (audited) if not."""
    role = salt_role_for(user)
    chunk = {"client": str(client), "fun": fun, "arg": list(arg or ())}
    if kwarg:
        chunk["kwarg"] = dict(kwarg)
    try:
        policy().check(role, chunk)
    except SaltFunctionRefused as exc:
        raise refuse(user, exc, path=path, master=master, target=target) from None
    return role


# --- minion rows -------------------------------------------------------------------------
def _minion_for_change(user, minion: SaltMinion, action: str = "change") -> None:
    if not can(user, minion, "view"):
        raise InvalidInput({"minion": ["Unknown minion."]})
    if not can(user, minion, action):
        raise Forbidden(f"You may not {action} Salt minion {minion.minion_id}.")


def _key_call(user, minion: SaltMinion, fun: str, *, path: str, operation):
    """Run one key operation as the user's Salt role (policy-checked and audited when refused)."""
    check_call(user, minion.master, fun, path=path, target=[minion.minion_id], client=SaltClientKind.WHEEL)
    api = client_for(minion.master, actor=user, purpose=f"salt {fun} {minion.minion_id}", role=salt_role_for(user))
    try:
        return operation(api)
    except SaltKeyRefused as exc:
        raise InvalidInput({"fingerprint": [str(exc)]}) from None
    except SaltFunctionRefused as exc:
        raise refuse(user, exc, path=path, master=minion.master, target=[minion.minion_id]) from None
    except SaltError as exc:
        raise SaltUnavailable(f"Salt master {minion.master.name}: {exc}") from None


def _store_key(minion: SaltMinion, key) -> None:
    minion.key_state = key.state.value if key else SaltKeyState.ABSENT
    minion.key_fingerprint = (key.fingerprint or "") if key else ""
    minion.key_seen_at = timezone.now()
    minion.save(update_fields=["key_state", "key_fingerprint", "key_seen_at", "updated_at"])


def accept_key(user, minion: SaltMinion, fingerprint: str, *, path: str = "api") -> SaltMinion:
    """Accept a PENDING key only if `fingerprint` (salt-key -f form) is the master's copy."""
    _minion_for_change(user, minion)
    if not isinstance(fingerprint, str) or len(normalize_fingerprint(fingerprint)) < 32:
        raise InvalidInput({"fingerprint": ["The key's fingerprint (as `salt-key -f` shows it) is required."]})
    before = {"key_state": minion.key_state, "key_fingerprint": minion.key_fingerprint}
    key = _key_call(user, minion, "key.accept_dict", path=path,
                    operation=lambda api: api.accept(minion.minion_id, fingerprint.strip()))
    with transaction.atomic():
        _store_key(minion, key)
        record_audit("salt.key.accept", actor=user, obj=minion, before=before,
                     after={"key_state": minion.key_state, "key_fingerprint": minion.key_fingerprint})
    return minion


def reject_key(user, minion: SaltMinion, *, path: str = "api") -> SaltMinion:
    _minion_for_change(user, minion)
    before = {"key_state": minion.key_state}
    key = _key_call(user, minion, "key.reject_dict", path=path,
                    operation=lambda api: api.reject(minion.minion_id, include_accepted=True))
    with transaction.atomic():
        _store_key(minion, key)
        record_audit("salt.key.reject", actor=user, obj=minion, before=before, after={"key_state": minion.key_state})
    return minion


def delete_key(user, minion: SaltMinion, *, path: str = "api") -> None:
    """Delete the minion's key on the master and forget the minion in the portal."""
    _minion_for_change(user, minion, "delete")
    _key_call(user, minion, "key.delete_dict", path=path, operation=lambda api: api.delete(minion.minion_id))
    with transaction.atomic():
        record_audit("salt.key.delete", actor=user, obj=minion,
                     before={"minion_id": minion.minion_id, "key_state": minion.key_state,
                             "key_fingerprint": minion.key_fingerprint})
        minion.delete()


# --- refresh (beat and jobs) -------------------------------------------------------------
def sync_keys(master: SaltMaster, api: SaltApi) -> dict:
    """Mirror the master's key list into SaltMinion rows (new ids appear, vanished keys become
    `absent`); links a new minion to the Node of the same name. Returns counts."""
    keys = {}
    for key in api.keys():
        keys.setdefault(key.id, key)  # keys() sorts accepted first for one id
    now = timezone.now()
    existing = {m.minion_id: m for m in master.minions.all()}
    nodes = dict(Node.objects.filter(name__in=[k for k in keys if k not in existing], salt_minion__isnull=True)
                 .values_list("name", "pk"))
    created = changed = 0
    for minion_id, key in keys.items():
        row = existing.get(minion_id)
        if row is None:
            SaltMinion.objects.create(master=master, minion_id=minion_id, node_id=nodes.get(minion_id),
                                      key_state=key.state.value, key_fingerprint=key.fingerprint or "",
                                      key_seen_at=now)
            created += 1
        elif row.key_state != key.state.value or row.key_fingerprint != (key.fingerprint or ""):
            _store_key(row, key)
            changed += 1
    gone = [m.pk for i, m in existing.items() if i not in keys and m.key_state != SaltKeyState.ABSENT]
    SaltMinion.objects.filter(pk__in=gone).update(key_state=SaltKeyState.ABSENT, key_fingerprint="", updated_at=now)
    SaltMaster.objects.filter(pk=master.pk).update(refreshed_at=now, refresh_error="")
    return {"keys": len(keys), "created": created, "changed": changed, "gone": len(gone)}


def store_run(run: SaltRun, result, *, summarize: bool = False) -> None:
    """Per-minion returns of a finished run; ping/version/grains also update the minion rows."""
    now = timezone.now()
    returns = {}
    for minion_id, r in result.returns.items():
        ret = r.ret
        if summarize and isinstance(ret, HardwareSummary):
            ret = hardware_dict(ret)
        returns[minion_id] = {"ret": ret, "retcode": r.retcode, "success": r.success}
    run.jid = result.jid or ""
    run.returns, run.missing, run.ok, run.finished_at = returns, list(result.missing), result.ok, now
    run.save(update_fields=["jid", "returns", "missing", "ok", "finished_at"])
    minions = {m.minion_id: m for m in run.master.minions.filter(minion_id__in=[*returns, *result.missing])}
    for minion_id, data in returns.items():
        row = minions.get(minion_id)
        if row is None:
            continue
        fields = ["updated_at"]
        if run.fun == "test.ping":
            row.last_ping_at, row.last_ping_ok = now, data["ret"] is True
            fields += ["last_ping_at", "last_ping_ok"]
        elif run.fun == "test.version" and isinstance(data["ret"], str):
            row.salt_version = data["ret"][:40]
            fields.append("salt_version")
        elif run.fun == "grains.items" and isinstance(data["ret"], dict):
            row.hardware, row.hardware_updated_at = data["ret"], now
            row.salt_version = str(data["ret"].get("salt_version") or row.salt_version)[:40]
            fields += ["hardware", "hardware_updated_at", "salt_version"]
        row.save(update_fields=fields)
    if run.fun == "test.ping":
        SaltMinion.objects.filter(master=run.master, minion_id__in=result.missing).update(
            last_ping_at=now, last_ping_ok=False)


def hardware_dict(summary: HardwareSummary) -> dict:
    return {"cpu_model": summary.cpu_model, "num_cpus": summary.num_cpus, "mem_total_mb": summary.mem_total_mb,
            "num_gpus": summary.num_gpus, "gpus": list(summary.gpus), "infiniband": list(summary.infiniband),
            "os": summary.os, "os_release": summary.os_release, "kernel_release": summary.kernel_release,
            "salt_version": summary.salt_version}


# --- execution ---------------------------------------------------------------------------
QUICK_FUNCTIONS = {"ping": "test.ping", "version": "test.version", "grains": "grains.items"}


def start_run(user, minions: list[SaltMinion], fun: str, arg=(), kwarg=None, *, path: str = "api"):
    """Check the policy (403 + audit when refused) and start the portal job that runs `fun` on
    the minions and streams per-minion results. Returns the job."""
    from apps.jobs.services import start_job

    if not minions:
        raise InvalidInput({"minions": ["Choose at least one minion."]})
    masters = {m.master_id for m in minions}
    if len(masters) != 1:
        raise InvalidInput({"minions": ["The minions must belong to one Salt master."]})
    for m in minions:
        if not can(user, m, "view"):
            raise InvalidInput({"minions": ["Unknown minion."]})
        if not can(user, m, "run"):
            raise Forbidden(f"You may not run Salt functions on {m.minion_id}.")
    ids = [m.minion_id for m in minions]
    if not isinstance(fun, str) or not fun:
        raise InvalidInput({"fun": ["Name the Salt function."]})
    check_call(user, minions[0].master, fun, arg, kwarg, path=path, target=ids)
    params = {"master": minions[0].master_id, "minions": ids, "fun": fun, "arg": list(arg or ())}
    if kwarg:
        params["kwarg"] = dict(kwarg)
    return start_job(user, "salt.run", params)


def minion_ids_valid(ids) -> list[str]:
    try:
        return [check_minion_id(i) for i in ids]
    except ValueError as exc:
        raise InvalidInput({"minions": [str(exc)]}) from None


def key_is_accepted(state: str) -> bool:
    return state == KeyState.ACCEPTED.value


def fingerprint_equal(a: str, b: str) -> bool:
    return bool(a and b) and fingerprints_match(a, b)
