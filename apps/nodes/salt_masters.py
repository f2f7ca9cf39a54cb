"""Salt masters and minion groups: create, change, delete (permission, validation, one audit entry).

A master's salt-api credential is a key-vault secret holding 'username:password'; binding it
needs `use` on the secret and salt-api's host within the secret's destinations (checked again on
every use). The master's public key is what enrolling minions receive; its `master_finger`
fingerprint (sha256 over the PEM body, salt.utils.crypt.pem_finger) is computed from it, and a
fingerprint given with it must match.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.core.audit import record_audit
from apps.core.errors import Forbidden, InvalidInput
from apps.keyvault.services import check_binding, check_use

from .salt import SaltApi
from .salt.results import fingerprints_match, pem_body_fingerprint
from .salt_models import SaltMaster, SaltMinion, SaltMinionGroup

FIELDS = ("name", "api_url", "eauth", "credential", "ca_certificate", "master_address", "public_key", "fingerprint",
          "hmac_secret")


def _check(user, master: SaltMaster, changed: set) -> None:
    try:
        SaltApi(master.api_url, "x", "x", master.eauth)  # the client's own address rules
    except ValueError as exc:
        field = "eauth" if "eauth" in str(exc) else "api_url"
        raise InvalidInput({field: [str(exc)]}) from None
    if "credential" in changed or "api_url" in changed:
        check_binding(user, master.credential, urlsplit(master.api_url).hostname or "", "credential")
    if "hmac_secret" in changed and master.hmac_secret is not None:
        check_use(user, master.hmac_secret, "hmac_secret")
    pem = (master.public_key or "").strip()
    if not (pem.startswith("-----BEGIN PUBLIC KEY-----") or pem.startswith("-----BEGIN RSA PUBLIC KEY-----")) \
            or "-----END" not in pem:
        raise InvalidInput({"public_key": ["The master's public key (master.pub) in PEM form."]})
    computed = pem_body_fingerprint(pem)
    if master.fingerprint and not fingerprints_match(master.fingerprint, computed):
        raise InvalidInput({"fingerprint": [f"Does not match the public key (its master_finger is {computed})."]})
    master.public_key, master.fingerprint = pem + "\n", computed
    try:
        master.full_clean()
    except ValidationError as exc:
        raise InvalidInput(exc.message_dict) from None


def _meta(master: SaltMaster) -> dict:
    return {"name": master.name, "api_url": master.api_url, "eauth": master.eauth,
            "credential": master.credential.name if master.credential_id else None,
            "master_address": master.master_address, "fingerprint": master.fingerprint,
            "hmac_secret": master.hmac_secret.name if master.hmac_secret_id else None}


def create_master(user, **fields) -> SaltMaster:
    if not user.has_perm("nodes.add_saltmaster"):
        raise Forbidden("You may not add Salt masters.")
    master = SaltMaster(**{k: v for k, v in fields.items() if k in FIELDS})
    _check(user, master, set(FIELDS))
    with transaction.atomic():
        master.save()
        record_audit("salt.master.create", actor=user, obj=master, after=_meta(master))
    return master


def update_master(user, master: SaltMaster, **changes) -> SaltMaster:
    if not user.has_perm("nodes.change_saltmaster"):
        raise Forbidden("You may not change Salt masters.")
    before = _meta(master)
    for key, value in changes.items():
        if key in FIELDS:
            setattr(master, key, value)
    _check(user, master, set(changes))
    with transaction.atomic():
        master.save()
        record_audit("salt.master.update", actor=user, obj=master, before=before, after=_meta(master))
    return master


def delete_master(user, master: SaltMaster) -> None:
    if not user.has_perm("nodes.delete_saltmaster"):
        raise Forbidden("You may not delete Salt masters.")
    with transaction.atomic():
        record_audit("salt.master.delete", actor=user, obj=master, before=_meta(master))
        master.delete()


# --- groups -----------------------------------------------------------------------------------
def _group_minions(user, master, minions) -> list[SaltMinion]:
    from apps.rbac.permissions import can

    out = list(minions or ())
    for m in out:
        if m.master_id != master.pk:
            raise InvalidInput({"minions": [f"{m} belongs to another master."]})
        if not can(user, m, "view"):
            raise InvalidInput({"minions": ["Unknown minion."]})
    return out


def save_group(user, group: SaltMinionGroup | None, *, master, name, description="", minions=()) -> SaltMinionGroup:
    action = "add" if group is None else "change"
    if not user.has_perm(f"nodes.{action}_saltminiongroup"):
        raise Forbidden(f"You may not {action} Salt minion groups.")
    before = None if group is None else {"name": group.name, "minions": sorted(group.minions.values_list("minion_id", flat=True))}
    group = group or SaltMinionGroup()
    group.master, group.name, group.description = master, name, description or ""
    members = _group_minions(user, master, minions)
    try:
        group.full_clean()
    except ValidationError as exc:
        raise InvalidInput(exc.message_dict) from None
    with transaction.atomic():
        group.save()
        group.minions.set(members)
        record_audit(f"salt.group.{'create' if before is None else 'update'}", actor=user, obj=group, before=before,
                     after={"name": group.name, "minions": sorted(m.minion_id for m in members)})
    return group


def delete_group(user, group: SaltMinionGroup) -> None:
    if not user.has_perm("nodes.delete_saltminiongroup"):
        raise Forbidden("You may not delete Salt minion groups.")
    with transaction.atomic():
        record_audit("salt.group.delete", actor=user, obj=group, before={"name": group.name})
        group.delete()
