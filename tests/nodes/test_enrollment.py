"""Salt enrollment without the lab: one-time token -> settings -> fingerprint report, and the
refusals (replayed, expired, forged, wrong purpose; HMAC forged, stale, replayed), each audited."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.jobs.models import Job
from apps.keyvault.services import create_secret
from apps.nodes import salt_enrollment
from apps.nodes.salt import hmac_enroll
from apps.nodes.salt.results import pem_body_fingerprint
from apps.nodes.salt_models import EnrollmentState, SaltEnrollment, SaltMaster, SaltMinion
from apps.nodes.services import create_node

pytestmark = pytest.mark.django_db

MASTER_PUB = ("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtest"
              + "A" * 60 + "\n-----END PUBLIC KEY-----\n")
FINGER = ":".join(["ab"] * 32)


@pytest.fixture
def master(root):
    credential = create_secret(root, name="salt-api", kind="bmc_credentials", value="portal:pw",
                               destinations=["127.0.0.1/32"])
    hmac_key = create_secret(root, name="salt-hmac", kind="other", value="s3cret-shared", destinations=["127.0.0.1/32"])
    return SaltMaster.objects.create(name="m1", api_url="https://127.0.0.1:14580", eauth="file", credential=credential,
                                     master_address="10.9.0.1:14506", public_key=MASTER_PUB,
                                     fingerprint=pem_body_fingerprint(MASTER_PUB), hmac_secret=hmac_key)


@pytest.fixture
def node(root):
    return create_node(root, name="gpu-n1", address="10.9.0.11")


def audits(action):
    return AuditEvent.objects.filter(action=action).count()


def issue(api, user, node, **body):
    r = api(user).post(f"/api/v1/nodes/{node.pk}/enroll/", body, format="json")
    assert r.status_code == 201, r.content
    return r.json()


def test_enroll_issues_a_token_and_a_command_without_it(api, root, master, node):
    before = AuditEvent.objects.count()
    out = issue(api, root, node)
    assert out["minion_id"] == "gpu-n1" and out["token"]
    assert out["token"] not in out["command"] and "/api/v1/salt/bootstrap.sh" in out["command"]
    assert AuditEvent.objects.count() == before + 1  # the key vault's token issue
    assert AuditEvent.objects.latest("pk").action == "keyvault.token.issue"
    assert SaltEnrollment.objects.get().state == EnrollmentState.ISSUED


def test_redeem_once_then_report_starts_the_accept_job(api, root, master, node):
    token = issue(api, root, node)["token"]
    anon = api()
    r = anon.post("/api/v1/salt/enroll/", {"token": token, "timestamp": time.time()}, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["minion_id"] == "gpu-n1"
    assert body["master"] == {"address": "10.9.0.1", "port": 14506, "public_key": MASTER_PUB,
                              "fingerprint": master.fingerprint}
    assert SaltMinion.objects.get(minion_id="gpu-n1").node == node
    # the same token again: nothing, and an audit entry
    refused = audits("salt.enroll.refused")
    again = anon.post("/api/v1/salt/enroll/", {"token": token, "timestamp": time.time()}, format="json")
    assert again.status_code == 409 and "master" not in again.json()
    assert audits("salt.enroll.refused") == refused + 1

    bad = anon.post("/api/v1/salt/enroll/report/", {"report_token": "x" * 43, "fingerprint": FINGER}, format="json")
    assert bad.status_code == 401 and audits("salt.enroll.refused") == refused + 2
    malformed = anon.post("/api/v1/salt/enroll/report/", {"report_token": body["report_token"],
                                                           "fingerprint": "not-a-fingerprint"}, format="json")
    assert malformed.status_code == 400 and "fingerprint" in malformed.json()
    ok = anon.post("/api/v1/salt/enroll/report/", {"report_token": body["report_token"], "fingerprint": FINGER},
                   format="json")
    assert ok.status_code == 202, ok.content
    job = Job.objects.get(pk=ok.json()["job"])
    assert job.kind == "salt.accept_enrolled" and job.requester == root
    enrollment = SaltEnrollment.objects.get(minion_id="gpu-n1")
    assert enrollment.state == EnrollmentState.REPORTED and enrollment.reported_fingerprint == FINGER
    # the report token is single use
    twice = anon.post("/api/v1/salt/enroll/report/", {"report_token": body["report_token"], "fingerprint": FINGER},
                      format="json")
    assert twice.status_code == 401


def test_expired_forged_and_foreign_tokens_get_nothing(api, root, master, node, monkeypatch):
    token = issue(api, root, node)["token"]
    anon = api()
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    r = anon.post("/api/v1/salt/enroll/", {"token": forged, "timestamp": time.time()}, format="json")
    assert r.status_code == 403 and "master" not in r.json()
    # an agent enrollment token (the GPU agent's purpose) is not a Salt one: refused, left unused
    from apps.gpus import agent_auth

    _row, agent_token = agent_auth.issue_enrollment_token(root, node)
    r = anon.post("/api/v1/salt/enroll/", {"token": agent_token, "timestamp": time.time()}, format="json")
    assert r.status_code == 403
    later = timezone.now() + dt.timedelta(seconds=salt_enrollment.TOKEN_TTL + 60)
    monkeypatch.setattr("apps.keyvault.onetime.timezone.now", lambda: later)
    r = anon.post("/api/v1/salt/enroll/", {"token": token, "timestamp": later.timestamp()}, format="json")
    assert r.status_code == 410 and "master" not in r.json()
    assert audits("salt.enroll.refused") == 3
    assert SaltEnrollment.objects.get(minion_id="gpu-n1").state == EnrollmentState.ISSUED


def test_enrolling_needs_change_on_the_node(api, make_user, master, node):
    viewer = make_user("eng")
    viewer.groups.add(Group.objects.get(name="engineer"))
    r = api(viewer).post(f"/api/v1/nodes/{node.pk}/enroll/", {}, format="json")
    assert r.status_code in (403, 404)
    assert not SaltEnrollment.objects.exists()


def sign(minion_id="gpu-n1", timestamp=None, nonce=None, secret="s3cret-shared"):
    """The node-side client (apps/nodes/salt/hmac_enroll.py, standard library only)."""
    return hmac_enroll.signed_request(secret, minion_id, timestamp=timestamp, nonce=nonce)


def test_hmac_request_signed_fresh_and_once(api, master, node):
    anon = api()
    body = sign()
    r = anon.post("/api/v1/salt/enroll/hmac/", body, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["master"]["fingerprint"] == master.fingerprint and r.json()["report_token"]
    replay = anon.post("/api/v1/salt/enroll/hmac/", body, format="json")
    assert replay.status_code == 403 and replay.json()["code"] == "replayed"
    forged = anon.post("/api/v1/salt/enroll/hmac/", sign(secret="guess"), format="json")
    assert forged.status_code == 403 and forged.json()["code"] == "forged"
    stale = anon.post("/api/v1/salt/enroll/hmac/", sign(timestamp=int(time.time()) - 301), format="json")
    assert stale.status_code == 401 and stale.json()["code"] == "stale_timestamp"
    unknown = anon.post("/api/v1/salt/enroll/hmac/", sign(minion_id="not-a-node"), format="json")
    assert unknown.status_code == 403
    assert audits("salt.enroll.refused") == 4
    assert audits("salt.enroll.hmac") == 1


def test_the_signature_is_hmac_sha256_of_the_seed_message():
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"n1|1700000000|abcdefabcdefabcd", hashlib.sha256).hexdigest()
    assert salt_enrollment.hmac_signature("k", "n1", 1700000000, "abcdefabcdefabcd") == expected
    request = hmac_enroll.signed_request("k", "n1", timestamp=1700000000, nonce="abcdefabcdefabcd")
    assert request == {"minion_id": "n1", "timestamp": 1700000000, "nonce": "abcdefabcdefabcd", "signature": expected}


def test_bootstrap_script_is_served(api):
    r = api().get("/api/v1/salt/bootstrap.sh")
    assert r.status_code == 200 and r.content.startswith(b"#!/bin/sh") and b"master_finger" in r.content
