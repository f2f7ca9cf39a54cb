"""/metrics in Prometheus format; the audit log API is read-only and permission-checked."""
import pytest
from django.test import override_settings
from django.utils import timezone

from apps.core.audit import record_audit
from apps.jobs.models import Job

pytestmark = pytest.mark.django_db


def test_metrics_expose_jobs_by_status_and_duration(client):
    now = timezone.now()
    Job.objects.create(kind="core.selfcheck", status="succeeded", started_at=now - timezone.timedelta(seconds=3),
                       finished_at=now)
    Job.objects.create(kind="core.selfcheck", status="failed", started_at=now - timezone.timedelta(seconds=40),
                       finished_at=now)
    Job.objects.create(kind="core.pulse", status="queued")
    client.get("/api/health-not-there")
    resp = client.get("/metrics")
    assert resp.status_code == 200
    text = resp.content.decode()
    assert 'aimatrix_jobs{kind="core.selfcheck",status="succeeded"} 1.0' in text
    assert 'aimatrix_jobs{kind="core.pulse",status="queued"} 1.0' in text
    assert 'aimatrix_job_duration_seconds_bucket{kind="core.selfcheck",le="5.0"} 1.0' in text
    assert 'aimatrix_job_duration_seconds_bucket{kind="core.selfcheck",le="60.0"} 2.0' in text
    assert 'aimatrix_job_duration_seconds_count{kind="core.selfcheck"} 2.0' in text
    assert 'aimatrix_http_requests_total{method="GET",status="404"}' in text


@override_settings(METRICS_TOKEN="scrape-secret")
def test_metrics_token_required_when_configured(client):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200


def test_metrics_refuse_remote_anonymous(client):
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403


def test_audit_api_is_read_only_and_needs_permission(make_user, api):
    admin = make_user("root", superuser=True)
    record_audit("demo.change", actor=admin, obj=admin, before={"a": 1}, after={"a": 2})
    resp = api(admin).get("/api/v1/audit/?action=demo.change")
    assert resp.status_code == 200
    entry = resp.json()["results"][0]
    assert entry["actor_repr"] == "root" and entry["object_type"] == "auth.user"
    assert entry["changes"] == {"before": {"a": 1}, "after": {"a": 2}}
    assert api(admin).post("/api/v1/audit/", {}, format="json").status_code == 405
    assert api(admin).delete(f"/api/v1/audit/{entry['id']}/").status_code == 405
    assert api(make_user("plain")).get("/api/v1/audit/").status_code == 403
    auditor = make_user("auditor", "core.view_auditevent")
    assert api(auditor).get("/api/v1/audit/").status_code == 200
    assert api().get("/api/v1/audit/").status_code in (401, 403)


def test_audit_api_filters(make_user, api):
    admin = make_user("root", superuser=True)
    record_audit("a.one", actor=admin)
    record_audit("b.two", actor=admin)
    client = api(admin)
    assert [e["action"] for e in client.get("/api/v1/audit/?action_prefix=a.").json()["results"]] == ["a.one"]
    assert client.get("/api/v1/audit/?actor=root").json()["count"] == 2
    assert client.get("/api/v1/audit/?since=2999-01-01T00:00:00Z").json()["count"] == 0


def test_schema_and_docs_are_served_without_cdn(make_user, client):
    client.force_login(make_user("root", superuser=True))
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ["/api/v1/jobs/", "/api/v1/jobs/{id}/cancel/", "/api/v1/jobs/{id}/events/", "/api/v1/audit/"]:
        assert path in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert not any(host in html for host in ("jsdelivr", "unpkg", "cdnjs", 'src="http', "href=\"http"))
