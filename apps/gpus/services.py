"""GPUs: what a user may see, operator changes (labels, maintenance), status, metrics, summary.

Every change is permission-checked through apps.rbac.permissions and audited here, whatever the
entry point (API, admin, pages).
"""
from __future__ import annotations


from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from apps.core.audit import record_audit
from apps.core.errors import Forbidden, InvalidInput
from apps.rbac.permissions import can, restrict

from . import health as rules
from .models import Gpu, GpuEvent, GpuHealth

AUDITED_FIELDS = ["labels", "health", "health_reason"]
OPERATOR_HEALTH = (GpuHealth.OK, GpuHealth.MAINTENANCE)  # degraded and failed are the rules' verdicts


def visible_gpus(user, action: str = "view"):
    return restrict(Gpu.objects.select_related("node"), user, action)


def _fields(gpu: Gpu) -> dict:
    return {f: getattr(gpu, f) for f in AUDITED_FIELDS}


@transaction.atomic
def update_gpu(actor, gpu: Gpu, **changes) -> Gpu:
    """Labels, and health set to maintenance (a reason required) or back to ok by an operator."""
    if not can(actor, gpu, "change"):
        raise Forbidden("You may not change this GPU.")
    unknown = set(changes) - set(AUDITED_FIELDS)
    if unknown:
        raise InvalidInput({name: ["Not editable."] for name in sorted(unknown)})
    gpu = Gpu.objects.select_for_update().select_related("node").get(pk=gpu.pk)
    before = _fields(gpu)
    if "labels" in changes:
        gpu.labels = changes["labels"]
        try:
            gpu.full_clean(validate_unique=False, validate_constraints=False,
                           exclude=[f.name for f in Gpu._meta.fields if f.name != "labels"])
        except ValidationError as exc:
            raise InvalidInput(exc.message_dict) from None
    new_health = changes.get("health", gpu.health)
    reason = changes.get("health_reason")
    if "health" in changes or "health_reason" in changes:
        if new_health not in OPERATOR_HEALTH and new_health != gpu.health:
            raise InvalidInput({"health": [f"Operators set {' or '.join(OPERATOR_HEALTH)}; degraded and failed "
                                           "come from the health rules."]})
        if new_health == GpuHealth.MAINTENANCE and not (reason or "").strip() and gpu.health != GpuHealth.MAINTENANCE:
            raise InvalidInput({"health_reason": ["Say why the GPU goes into maintenance."]})
        if reason is None:
            reason = gpu.health_reason if new_health == gpu.health else f"set by {actor.get_username()}"
        if new_health != gpu.health:
            gpu.thermal_throttle_since = None  # the thermal rule's clock starts over
        rules.set_health(gpu, new_health, reason.strip()[:300], at=timezone.now(), save=False)
    gpu.save()
    after = _fields(gpu)
    if after != before:
        record_audit("gpu.update", actor=actor, obj=gpu, before=before, after=after)
    return gpu


def status(gpu: Gpu) -> dict:
    """What a status view shows: inventory, health with its reason, the newest sample, recent events."""
    events = list(GpuEvent.objects.filter(gpu=gpu).order_by("-ts", "-id")[:20])
    return {
        "id": gpu.pk, "uuid": gpu.uuid, "node": gpu.node.name, "index": gpu.index, "model": gpu.model,
        "present": gpu.present, "last_seen": gpu.last_seen,
        "health": gpu.health, "health_reason": gpu.health_reason, "health_changed_at": gpu.health_changed_at,
        "thermal_throttle_since": gpu.thermal_throttle_since,
        "sample": gpu.last_sample or None, "sample_at": gpu.last_sample_at,
        "memory_total_mib": gpu.memory_total_mib, "power_limit_w": gpu.power_limit_w,
        "mig_mode": gpu.mig_mode, "mig_devices": gpu.mig_devices,
        "events": [{"ts": e.ts, "kind": e.kind, "xid": e.xid, "message": e.message} for e in events],
    }


# --- summary ----------------------------------------------------------------------------------
def summary(user) -> dict:
    """Fleet counts over the GPUs the user may see, in two queries."""
    gpus = visible_gpus(user).order_by()
    totals = gpus.aggregate(n_total=Count("id"), n_present=Count("id", filter=Q(present=True)),
                            n_missing=Count("id", filter=Q(present=False)), n_nodes=Count("node_id", distinct=True),
                            **{f"n_{h.value}": Count("id", filter=Q(present=True, health=h)) for h in GpuHealth})
    models = list(gpus.filter(present=True).values("model").annotate(count=Count("id"))
                  .order_by("-count", "model")[:50])
    return {"gpus": totals["n_total"], "present": totals["n_present"], "missing": totals["n_missing"],
            "nodes": totals["n_nodes"], "health": {h.value: totals[f"n_{h.value}"] for h in GpuHealth},
            "models": models}


def delete_gpu(actor, gpu: Gpu) -> None:
    """Only a GPU that vanished may be removed (its samples go with it); a present one comes back
    with the next inventory, so deleting it would hide nothing and lose its history."""
    from apps.core.errors import Conflict

    if not can(actor, gpu, "delete"):
        raise Forbidden("You may not delete this GPU.")
    if gpu.present:
        raise Conflict(f"{gpu} is still present on its node; only vanished GPUs are removed.")
    with transaction.atomic():
        record_audit("gpu.delete", actor=actor, obj=gpu, before={"uuid": gpu.uuid, "node": gpu.node.name,
                                                                 "index": gpu.index, **_fields(gpu)})
        gpu.delete()
