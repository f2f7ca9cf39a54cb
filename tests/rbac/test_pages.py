"""Project and audit pages: same permission layer as the API."""
import pytest

from apps.core.audit import record_audit
from apps.rbac import services

pytestmark = pytest.mark.django_db


def test_project_pages_show_only_visible_projects(client, make_user):
    alice = make_user("alice", "rbac.view_project")
    mine = services.create_project(None, "mine", owner=alice)
    theirs = services.create_project(None, "theirs")
    client.force_login(alice)
    html = client.get("/projects/").content.decode()
    assert ">mine<" in html and ">theirs<" not in html
    assert "alice" in client.get(f"/projects/{mine.pk}/").content.decode()
    assert client.get(f"/projects/{theirs.pk}/").status_code == 404


def test_audit_page_needs_permission_and_filters(client, make_user):
    admin = make_user("root", superuser=True)
    record_audit("project.create", actor=admin)
    record_audit("job.start", actor=admin)
    client.force_login(make_user("plain"))
    assert client.get("/audit/").status_code == 403
    client.force_login(admin)
    html = client.get("/audit/?action_prefix=job.").content.decode()
    assert "<code>job.start</code>" in html and "<code>project.create</code>" not in html
    assert 'href="/audit/"' in client.get("/").content.decode()
