"""Salt job kinds: run a function on minions (per-minion results streamed), refresh a master's
keys and pings, accept an enrolled minion's key by its reported fingerprint.

`salt.run` can be started from the API, the pages, the admin or the generic job form: its
`authorize` checks the function policy as the requester's Salt role on every one of those
paths (a refusal is audited and answered 403), and the client checks again before sending.
"""
from __future__ import annotations

import time

from rest_framework import serializers

from apps.core import dbconn
from apps.core.errors import Forbidden, InvalidInput
from apps.jobs.registry import register
from apps.jobs.runner import JobFailed
from apps.rbac.permissions import can

from . import salt_services as services
from .salt import RunResult, SaltError, SaltFunctionRefused, SaltKeyRefused, SaltMinionNoAnswer, SaltRole
from .salt_models import EnrollmentState, SaltEnrollment, SaltMaster, SaltMinion, SaltRun
from .salt_roles import salt_role_for

RUN_WAIT_S = 15.0          # how long a run waits for the minions
ACCEPT_KEY_WAIT_S = 60.0   # an enrolled minion's key reaches the master within seconds of its start
FIRST_PING_S = 30.0


class RunParams(serializers.Serializer):
    master = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    minions = serializers.ListField(child=serializers.CharField(max_length=253), min_length=1, max_length=1000)
    fun = serializers.CharField(max_length=100)
    arg = serializers.ListField(required=False, default=list, max_length=20)
    kwarg = serializers.DictField(required=False, default=dict)


def _authorize_run(user, params):
    master = SaltMaster.objects.filter(pk=params["master"]).first()
    ids = services.minion_ids_valid(params["minions"])
    minions = list(SaltMinion.objects.filter(master=master, minion_id__in=ids)) if master else []
    if master is None or len(minions) != len(set(ids)) or any(not can(user, m, "view") for m in minions):
        raise InvalidInput({"minions": ["Unknown minion."]})
    if any(not can(user, m, "run") for m in minions):
        raise Forbidden("You may not run Salt functions on these minions.")
    services.check_call(user, master, params["fun"], params.get("arg"), params.get("kwarg"), path="job", target=ids)


@register("salt.run", label="Run a Salt function", permission="nodes.run_saltminion", params=RunParams,
          authorize=_authorize_run, time_limit=RUN_WAIT_S + 60)
def run(runner, params, target):
    """Runs one Salt function on the minions through salt-api; each minion's return and retcode
    is a host result; minions that did not answer are failed hosts."""
    master = SaltMaster.objects.get(pk=params["master"])
    user = runner.job.requester
    ids, fun = list(params["minions"]), params["fun"]
    run_row = SaltRun.objects.create(master=master, fun=fun, arguments=list(params.get("arg") or []),
                                     target=ids, job=runner.job, requested_by=user)
    runner.step(f"{fun} on {len(ids)} minion(s) through {master.name}")
    try:
        api = services.client_for(master, actor=user, purpose=f"job {runner.job_id} {fun}", role=salt_role_for(user))
        if fun == "grains.items":
            result = api.hardware(ids, tgt_type="list", wait=RUN_WAIT_S)
        else:
            result = _streamed(runner, api, ids, fun, params.get("arg") or (), params.get("kwarg") or None)
    except SaltFunctionRefused as exc:
        services.refuse(user, exc, path="job", master=master, target=ids)
        raise JobFailed(f"Salt function {exc.fun} refused: {exc.reason}") from None
    except (SaltError, services.SaltUnavailable) as exc:
        raise JobFailed(str(exc)) from None
    services.store_run(run_row, result, summarize=fun == "grains.items")
    run_row.refresh_from_db()
    for minion_id in ids:
        data = run_row.returns.get(minion_id)
        if data is None:
            runner.host_result(minion_id, False, "did not answer")
        elif minion_id not in runner.host_results:  # streamed runs reported it as it came
            runner.host_result(minion_id, bool(data["success"]), _short(data["ret"]), retcode=data["retcode"])
    runner.progress(100)
    runner.log(f"jid {result.jid}: {len(result.returns)} returned, {len(result.missing)} missing")
    return {"jid": result.jid, "salt_run": run_row.pk, "ok": result.ok, "failed": list(result.failed),
            "missing": list(result.missing)}


def _streamed(runner, api, ids, fun, arg, kwarg) -> RunResult:
    """Publish, then read the master's job cache until every targeted minion returned (or the
    wait is over): each minion's return is a host result the moment it is there."""
    try:
        submitted = api.submit(ids, fun, arg, kwarg, tgt_type="list")
    except SaltMinionNoAnswer:  # no targeted minion has an accepted key: each one failed
        return RunResult(None, fun, {}, tuple(sorted(ids)))
    runner.log(f"Salt job {submitted.jid} published to {len(submitted.minions)} minion(s)")
    seen: dict = {}
    deadline = time.monotonic() + RUN_WAIT_S
    while True:
        for minion_id, r in api.job(submitted.jid).returns.items():
            if minion_id not in seen:
                seen[minion_id] = r
                runner.host_result(minion_id, r.success, _short(r.ret), retcode=r.retcode)
        if all(m in seen for m in submitted.minions) or time.monotonic() >= deadline:
            break
        runner.check_cancelled()
        time.sleep(0.3)
    missing = tuple(sorted(set(ids) - set(seen)))
    return RunResult(submitted.jid, fun, seen, missing)


def _short(ret) -> str:
    text = ret if isinstance(ret, str) else repr(ret)
    return text[:200]


class MasterParams(serializers.Serializer):
    master = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


def _authorize_master(user, params):
    if not SaltMaster.objects.filter(pk=params["master"]).exists():
        raise InvalidInput({"master": ["Unknown Salt master."]})
    if not user.has_perm("nodes.change_saltminion"):
        raise Forbidden("You may not refresh Salt minions.")


@register("salt.refresh", label="Refresh Salt keys and pings", permission="nodes.change_saltminion",
          params=MasterParams, authorize=_authorize_master, time_limit=90)
def refresh(runner, params, target):
    """Reads the master's key list into the minion rows, then pings the accepted minions."""
    master = SaltMaster.objects.get(pk=params["master"])
    return refresh_master(master, actor=runner.job.requester or "job salt.refresh", runner=runner)


def refresh_master(master: SaltMaster, *, actor, runner=None) -> dict:
    """Keys, then one ping round (bounded) of the accepted minions. Used by the job and by beat."""
    try:
        api = services.client_for(master, actor=actor, purpose="salt refresh", role=SaltRole.VIEWER)
        counts = services.sync_keys(master, api)
        counts["accepted_enrollments"] = _accept_reported(master, api)
        accepted = list(master.minions.filter(key_state="accepted").values_list("minion_id", flat=True))
        if accepted:
            run_row = SaltRun.objects.create(master=master, fun="test.ping", target=accepted,
                                             job=runner.job if runner else None)
            services.store_run(run_row, api.ping(accepted, tgt_type="list", wait=5.0))
            if runner:
                run_row.refresh_from_db()
                for m in accepted:
                    runner.host_result(m, m in run_row.returns, "pong" if m in run_row.returns else "no answer")
    except (SaltError, services.SaltUnavailable) as exc:
        SaltMaster.objects.filter(pk=master.pk).update(refresh_error=str(exc)[:300])
        if runner:
            raise JobFailed(str(exc)) from None
        return {"error": str(exc)}
    return {**counts, "pinged": len(accepted)}


def _accept_reported(master: SaltMaster, api) -> int:
    """Reported enrollments nobody's job waits for (HMAC): accept a pending key that is the reported one."""
    from . import salt_enrollment

    done = 0
    for enrollment in SaltEnrollment.objects.filter(master=master, state=EnrollmentState.REPORTED,
                                                    created_by=None)[:50]:
        try:
            key = api.as_role(SaltRole.ADMIN).accept(enrollment.minion_id, enrollment.reported_fingerprint)
        except SaltKeyRefused as exc:
            if "no key" not in str(exc):  # not arrived yet: the next round tries again
                salt_enrollment.finish(enrollment, ok=False, detail=str(exc))
            continue
        salt_enrollment.finish(enrollment, ok=True, detail="key accepted by the refresh", key=key,
                               actor="beat nodes.refresh_salt_masters")
        done += 1
    return done


class EnrollmentParams(serializers.Serializer):
    enrollment = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


def _authorize_enrollment(user, params):
    enrollment = SaltEnrollment.objects.filter(pk=params["enrollment"]).select_related("node").first()
    if enrollment is None or (enrollment.node and not can(user, enrollment.node, "view")):
        raise InvalidInput({"enrollment": ["Unknown enrollment."]})
    if not user.has_perm("nodes.change_saltminion") or (enrollment.node and not can(user, enrollment.node, "change")):
        raise Forbidden("You may not accept Salt keys for this node.")


@register("salt.accept_enrolled", label="Accept an enrolled minion's key", permission="nodes.change_saltminion",
          params=EnrollmentParams, authorize=_authorize_enrollment, time_limit=ACCEPT_KEY_WAIT_S + FIRST_PING_S + 30)
def accept_enrolled(runner, params, target):
    """Waits for the enrolled minion's key to be pending on the master, accepts it only if its
    fingerprint is the one the minion reported, then pings it."""
    enrollment = SaltEnrollment.objects.select_related("master", "node").get(pk=params["enrollment"])
    if enrollment.state != EnrollmentState.REPORTED:
        raise JobFailed(f"Enrollment of {enrollment.minion_id} is {enrollment.get_state_display().lower()}, "
                        "not waiting for its key.")
    runner.step(f"Waiting for the key of {enrollment.minion_id} on {enrollment.master.name}")
    try:
        key, seconds = accept_reported(enrollment, actor=runner.job.requester, purpose=f"job {runner.job_id} enrollment",
                                       step=runner.step, check_cancelled=runner.check_cancelled)
    except EnrollmentNotAccepted as exc:
        if exc.key_refused:
            runner.host_result(enrollment.minion_id, False, str(exc))
        raise JobFailed(str(exc)) from None
    runner.host_result(enrollment.minion_id, True, f"accepted, answered a ping after {seconds:.1f} s")
    return {"minion": enrollment.minion_id, "fingerprint": key.fingerprint, "ping_s": round(seconds, 2)}


class EnrollmentNotAccepted(Exception):
    """Why a reported minion key was not accepted (or did not answer); `key_refused` when the
    master holds another key under that id."""

    def __init__(self, message: str, key_refused: bool = False):
        super().__init__(message)
        self.key_refused = key_refused


def accept_reported(enrollment: SaltEnrollment, *, actor, purpose: str, step=lambda name: None,
                    check_cancelled=lambda: None):
    """Wait for the enrolled minion's key on the master, accept it only if its fingerprint is the
    one the minion reported, then ping it: (key, seconds to the first answer). The enrollment ends
    accepted or failed (audited either way); EnrollmentNotAccepted says why not."""
    from . import salt_enrollment

    try:
        api = services.client_for(enrollment.master, actor=actor, purpose=purpose, role=SaltRole.ADMIN)
        dbconn.release()  # the waits below are salt-api's, not the database's
        deadline = time.monotonic() + ACCEPT_KEY_WAIT_S
        key = api.key(enrollment.minion_id)
        while (key is None or key.state == "absent") and time.monotonic() < deadline:
            check_cancelled()
            time.sleep(1.0)
            key = api.key(enrollment.minion_id)
        if key is None:
            salt_enrollment.finish(enrollment, ok=False, detail="the minion's key never reached the master")
            raise EnrollmentNotAccepted(f"{enrollment.minion_id}: no key on the master after {ACCEPT_KEY_WAIT_S:g} s")
        step(f"Accepting {enrollment.minion_id} by its reported fingerprint")
        try:
            key = api.accept(enrollment.minion_id, enrollment.reported_fingerprint)
        except SaltKeyRefused as exc:
            salt_enrollment.finish(enrollment, ok=False, detail=str(exc))
            raise EnrollmentNotAccepted(str(exc), key_refused=True) from None
        salt_enrollment.finish(enrollment, ok=True, detail="key accepted", key=key, actor=actor)
        step(f"Pinging {enrollment.minion_id}")
        dbconn.release()
        seconds = api.wait_for_ping(enrollment.minion_id, timeout=FIRST_PING_S)
    except (SaltError, services.SaltUnavailable) as exc:
        raise EnrollmentNotAccepted(f"{enrollment.minion_id}: {exc}") from None
    SaltMinion.objects.filter(master=enrollment.master, minion_id=enrollment.minion_id).update(last_ping_ok=True)
    return key, seconds
