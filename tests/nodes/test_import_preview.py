"""The import page previews first (rows to create, rows refused per field, names that exist) and
writes nothing; "Import N nodes" commits through the same path as the API, large files as a job."""
import pytest

from apps.core.models import AuditEvent
from apps.jobs import services as job_services
from apps.jobs.models import Job
from apps.nodes import importer, services
from apps.nodes.models import Node
from apps.nodes.views import COMMIT_STEP

from .import_payloads import csv_rows

pytestmark = pytest.mark.django_db

URL = "/nodes/import/"
GOOD = "name,address,labels\nn1,10.0.0.1,gpu;a100\nn2,10.0.0.2,\n"


@pytest.fixture(autouse=True)
def networks(only_networks):
    return only_networks("10.0.0.0/8")


@pytest.fixture
def no_enqueue(monkeypatch):
    monkeypatch.setattr(job_services, "enqueue", lambda job: None)


def writes():
    return Node.objects.count(), AuditEvent.objects.filter(action__startswith="node.").count(), Job.objects.count()


def test_preview_shows_what_would_change_and_writes_nothing(client, root):
    services.create_node(root, name="old", address="10.0.0.9")
    before = writes()
    client.force_login(root)
    content = "name,address\nnew1,10.0.0.1\nold,10.0.0.3\nbad name,10.0.0.4\nnew2,not an address!\n"
    resp = client.post(URL, {"format": "csv", "content": content})
    html = resp.content.decode()
    assert resp.status_code == 400 and writes() == before
    assert 'id="preview-create-count">1<' in html and 'id="preview-refused-count">3<' in html
    for row, field in ((2, "name"), (3, "name"), (4, "address")):
        assert f"<td>Row {row}</td>" in html and f"<strong>{field}</strong>" in html
    assert 'id="preview-existing">Already nodes: <code>old</code>' in html
    assert 'id="import-commit"' not in html  # one bad row imports nothing: nothing to commit


def test_preview_then_commit(client, root):
    client.force_login(root)
    resp = client.post(URL, {"format": "csv", "content": GOOD})
    html = resp.content.decode()
    assert resp.status_code == 200 and not Node.objects.exists()
    assert ">Import 2 nodes</button>" in html and "#a100" in html
    assert f'name="step" value="{COMMIT_STEP}"' in html
    done = client.post(URL, {"format": "csv", "content": GOOD, "step": COMMIT_STEP})
    assert done.status_code == 302 and done["Location"] == "/nodes/"
    assert sorted(Node.objects.values_list("name", flat=True)) == ["n1", "n2"]
    assert AuditEvent.objects.filter(action="node.create").count() == 2


def test_uploaded_file_is_previewed_and_carried_into_the_commit(client, root):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(root)
    upload = SimpleUploadedFile("fleet.csv", GOOD.encode(), content_type="text/csv")
    html = client.post(URL, {"file": upload}).content.decode()
    assert ">Import 2 nodes</button>" in html and 'name="format" value="csv"' in html
    assert "n1,10.0.0.1,gpu;a100" in html  # the rows travel with the commit button
    assert not Node.objects.exists()


def test_large_file_preview_checks_names_and_the_commit_becomes_a_job(client, root, settings, no_enqueue):
    settings.NODES_IMPORT_SYNC_MAX_ROWS = 3
    services.create_node(root, name="n2", address="10.0.0.9")
    client.force_login(root)
    html = client.post(URL, {"format": "csv", "content": csv_rows(5)}).content.decode()
    assert "imported by a job" in html and "<td>Row 3</td>" in html and "exists already" in html
    assert Node.objects.count() == 1 and not Job.objects.exists()
    done = client.post(URL, {"format": "csv", "content": csv_rows(5, prefix="m"), "step": COMMIT_STEP})
    job = Job.objects.get(kind="nodes.import")
    assert done.status_code == 302 and done["Location"] == f"/jobs/{job.pk}/"


def test_preview_checks_permission_before_parsing(client, make_user, monkeypatch):
    parsed = []
    monkeypatch.setattr(importer, "parse", lambda *a, **k: parsed.append(a) or [])
    client.force_login(make_user("viewer", "nodes.view_node"))
    resp = client.post(URL, {"format": "csv", "content": GOOD})
    assert resp.status_code == 403 and "may not add nodes" in resp.content.decode() and parsed == []
    with pytest.raises(importer.Forbidden):
        importer.preview(make_user("other", "nodes.view_node"), GOOD, "csv")
    assert parsed == []


def test_empty_form_is_an_error_under_the_form(client, root):
    client.force_login(root)
    resp = client.post(URL, {"format": "csv"})
    assert resp.status_code == 400 and "Choose a file, or paste the rows." in resp.content.decode()
    unreadable = client.post(URL, {"format": "json", "content": "[1, 2"})
    assert unreadable.status_code == 400 and "Cannot read the json file" in unreadable.content.decode()
