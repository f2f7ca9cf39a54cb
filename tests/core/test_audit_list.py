"""The audit log page on the list kit: permission, sorting, filters with chips, CSV export of the
filtered entries (changes as JSON, formulas neutralised), empty state, constant query count."""
import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.audit import record_audit
from apps.core.models import AuditEvent

pytestmark = pytest.mark.django_db
LIST = "/audit/"


def _actions(response):
    """The listed actions, less the log-ins of the test client itself."""
    return [row.record.action for row in response.context["table"].page.object_list if row.record.action != "auth.login"]


def test_only_holders_of_the_audit_permission_see_it(client, make_user):
    assert client.get(LIST).status_code == 302  # to the login page
    client.force_login(make_user("plain"))
    assert client.get(LIST).status_code == 403
    assert client.get(LIST + "?export=csv").status_code == 403
    client.force_login(make_user("auditor", "core.view_auditevent"))
    assert client.get(LIST).status_code == 200


def test_sorting_filters_chips_and_export(client, root):
    record_audit("node.update", actor=root, before={"state": "new"}, after={"state": "ready"})
    record_audit("job.start", actor=root)
    record_audit("=cmd.run", actor=None)
    client.force_login(root)
    assert _actions(client.get(LIST + "?sort=action")) == ["=cmd.run", "job.start", "node.update"]
    assert _actions(client.get(LIST))[0] == "=cmd.run"  # newest first
    response = client.get(LIST + "?action_prefix=node.&actor=root")
    assert _actions(response) == ["node.update"]
    chips = {(c["label"], c["value"]) for c in response.context["active_filters"]}
    assert chips == {("Action starts with", "node."), ("Actor (user name)", "root")}
    assert '<td class="old">new</td>' in response.content.decode()
    export = client.get(LIST + "?action_prefix=node.&export=csv")
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0] == ["Time", "Actor", "Action", "Object", "Changes", "Client address", "Request"]
    assert len(rows) == 2 and rows[1][2] == "node.update" and '"after": {"state": "ready"}' in rows[1][4]
    rows = list(csv.reader(io.StringIO(b"".join(client.get(LIST + "?export=csv&sort=action")
                                               .streaming_content).decode())))
    assert rows[1][2] == "'=cmd.run" and rows[1][1] == "system"


def test_an_entry_links_to_every_change_of_its_object(client, root):
    from apps.rbac import services

    project = services.create_project(root, "team")
    client.force_login(root)
    html = client.get(LIST).content.decode()
    assert f'href="?object_type=project&amp;object_id={project.pk}"' in html
    assert _actions(client.get(LIST + f"?object_type=project&object_id={project.pk}")) == ["project.create"]


def test_empty_state_and_constant_queries(client, root):
    client.force_login(root)
    AuditEvent.objects.all().delete()
    response = client.get(LIST)
    assert response.context["is_empty"] and "No audit entries yet" in response.content.decode()
    counts = []
    for size in (5, 60):
        while AuditEvent.objects.count() < size:
            record_audit("demo.change", actor=root, before={"n": 1}, after={"n": 2})
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(LIST).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
