"""Node import as an attacker tries it: permission before parsing, no YAML aliases, bounded
depth, rows and labels, large files as a job; memory stays flat (tracemalloc)."""
import json
import time
import tracemalloc
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from apps.jobs import services as job_services
from apps.jobs.execution import execute
from apps.jobs.models import Job, JobEvent
from apps.nodes import import_job, importer
from apps.nodes.models import Node

from .import_payloads import csv_rows, yaml_bomb

pytestmark = pytest.mark.django_db

IMPORT = "/api/v1/nodes/import/"


@pytest.fixture
def role_user(make_user):
    def make(role):
        user = make_user(f"u-{role}")
        user.groups.add(Group.objects.get(name=role))
        return type(user).objects.get(pk=user.pk)
    return make


@pytest.fixture
def no_enqueue(monkeypatch):
    monkeypatch.setattr(job_services, "enqueue", lambda job: None)


@pytest.fixture
def parse_spy(monkeypatch):
    """Records every call of the import's parse and validate steps."""
    calls = []
    for name in ("parse", "validate"):
        real = getattr(importer, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)
        monkeypatch.setattr(importer, name, spy)
    return calls


def peak_memory(call):
    """(result, peak bytes allocated by Python while it ran)."""
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_bomb_is_474_bytes_and_nine_levels():
    assert len(yaml_bomb()) < 480 and yaml_bomb().count("&") == 9


@pytest.mark.parametrize("role", ["data-developer", "engineer", "model-developer"])
def test_yaml_bomb_from_user_without_node_permission_is_refused_before_parsing(role, role_user, api, parse_spy):
    client = api(role_user(role))
    started = time.monotonic()
    resp, peak = peak_memory(lambda: client.post(IMPORT, {"format": "yaml", "content": yaml_bomb()}, format="json"))
    assert resp.status_code == 403, resp.content
    assert "may not add nodes" in resp.json()["detail"]
    assert parse_spy == [], "the file was parsed before the permission check"
    assert peak < 20 * 2**20 and time.monotonic() - started < 2
    assert not Node.objects.exists()


def test_yaml_bomb_from_permitted_user_is_refused_without_expanding(admin, api):
    resp, peak = peak_memory(lambda: api(admin).post(IMPORT, {"format": "yaml", "content": yaml_bomb()},
                                                     format="json"))
    assert resp.status_code == 400, resp.content
    assert "anchors (&a0) are not allowed" in resp.json()["file"][0]
    assert peak < 20 * 2**20
    assert not Node.objects.exists()


def test_yaml_alias_without_anchor_list_and_deep_nesting_are_refused(admin, api):
    client = api(admin)
    for content, message in [("- *undefined\n", "aliases"),
                             ("- name: a\n  labels: " + "[" * 50 + "]" * 50 + "\n", "nested deeper"),
                             ("- !!python/object/apply:os.system [id]\n", "Not valid YAML")]:
        resp = client.post(IMPORT, {"format": "yaml", "content": content}, format="json")
        assert resp.status_code == 400 and message in resp.json()["file"][0], resp.content


def test_deep_json_file_is_refused(admin, api):
    content = "[" * 100_000 + "]" * 100_000
    resp = api(admin).post(IMPORT, {"format": "json", "content": content}, format="json")
    assert resp.status_code == 400 and "nested deeper" in resp.json()["file"][0]


def test_big_csv_from_engineer_is_refused_before_it_is_read(role_user, api, parse_spy):
    engineer = role_user("engineer")
    started = time.monotonic()
    resp = api(engineer).post(IMPORT, {"format": "csv", "content": csv_rows(5000)}, format="json")
    assert resp.status_code == 403 and parse_spy == []
    assert time.monotonic() - started < 2
    assert not Node.objects.exists() and not Job.objects.exists()


def test_upload_of_forbidden_user_is_refused_on_the_page_and_in_the_admin(role_user, client, parse_spy):
    client.force_login(role_user("engineer"))
    resp = client.post("/nodes/import/", {"format": "yaml", "content": yaml_bomb()})
    assert resp.status_code == 403 and "may not add nodes" in resp.content.decode()
    assert parse_spy == [] and not Node.objects.exists()


def test_service_checks_permission_too(role_user, parse_spy):
    from apps.core.errors import Forbidden

    with pytest.raises(Forbidden):
        importer.start_import(role_user("engineer"), yaml_bomb(), "yaml")
    assert parse_spy == []


def test_too_many_rows_are_refused(admin, api):
    resp = api(admin).post(IMPORT, {"format": "csv", "content": csv_rows(importer.MAX_ROWS + 1)}, format="json")
    assert resp.status_code == 400 and "At most 5000" in resp.json()["file"][0]


@pytest.mark.parametrize("labels, message", [
    ([f"l{i}" for i in range(33)], "At most 32 labels"),
    (["x" * 64], "1-63"),
    ([["nested"]], "short words"),
])
def test_labels_are_a_bounded_list_of_bounded_strings(admin, api, labels, message):
    resp = api(admin).post("/api/v1/nodes/", {"name": "n1", "address": "10.0.0.5", "labels": labels}, format="json")
    assert resp.status_code == 400 and message in str(resp.json()["labels"]), resp.content
    assert api(admin).post("/api/v1/nodes/", {"name": "n1", "address": "10.0.0.5",
                                              "labels": [f"l{i}" for i in range(32)]},
                           format="json").status_code == 201


def test_small_import_stays_synchronous(admin, api, no_enqueue):
    resp = api(admin).post(IMPORT, {"format": "csv", "content": csv_rows(3)}, format="json")
    assert resp.status_code == 201 and len(resp.json()) == 3 and not Job.objects.exists()


@pytest.mark.django_db(transaction=True)  # the job's log writer and heartbeat use their own connections
def test_large_import_runs_as_a_job_with_progress(admin, api, no_enqueue, settings):
    count = settings.NODES_IMPORT_SYNC_MAX_ROWS + 50
    resp = api(admin).post(IMPORT, {"format": "csv", "content": csv_rows(count)}, format="json")
    assert resp.status_code == 202, resp.content
    job = Job.objects.get(pk=resp.json()["job"])
    assert job.kind == "nodes.import" and not Node.objects.exists()
    # The job's parameters stay small: the rows wait in a file under the var dir.
    assert set(job.params) == {"upload", "format", "rows", "sha256"} and job.params["rows"] == count
    assert len(json.dumps(job.params)) < 200
    stash = Path(settings.VAR_DIR) / "imports" / f"{job.params['upload']}.json"
    assert stash.stat().st_mode & 0o077 == 0
    assert execute(job.pk) == "succeeded", Job.objects.get(pk=job.pk).error
    assert Node.objects.count() == count and not stash.exists()
    progress = [e["progress"] for e in JobEvent.objects.filter(job=job, kind="progress").values_list("data", flat=True)]
    assert progress == sorted(progress) and len(progress) >= 4 and 0 < progress[0] < 50
    steps = list(JobEvent.objects.filter(job=job, kind="step").values_list("message", flat=True))
    assert steps == [f"Validating {count} rows", f"Creating {count} nodes"]


@pytest.mark.django_db(transaction=True)  # the job's log writer and heartbeat use their own connections
def test_large_import_with_a_bad_row_fails_naming_it_and_imports_nothing(admin, api, no_enqueue, settings):
    content = csv_rows(settings.NODES_IMPORT_SYNC_MAX_ROWS + 10) + "bad;name,10.0.0.1,\n"
    job_id = api(admin).post(IMPORT, {"format": "csv", "content": content}, format="json").json()["job"]
    assert execute(job_id) == "failed"
    job = Job.objects.get(pk=job_id)
    assert "1 of" in job.error and f"row {settings.NODES_IMPORT_SYNC_MAX_ROWS + 11}" in job.error
    assert "name" in job.error and not Node.objects.exists()
    # The rows are kept, so the job can be retried once the cause is fixed elsewhere.
    assert (Path(settings.VAR_DIR) / "imports" / f"{job.params['upload']}.json").exists()


@pytest.mark.django_db(transaction=True)  # the job's log writer and heartbeat use their own connections
def test_import_job_refuses_rows_changed_on_disk(admin, no_enqueue, settings):
    rows = importer.parse(csv_rows(settings.NODES_IMPORT_SYNC_MAX_ROWS + 1), "csv")
    job = import_job.start_import_job(admin, rows, "csv")
    stash = Path(settings.VAR_DIR) / "imports" / f"{job.params['upload']}.json"
    stash.write_text(json.dumps(rows + [{"name": "extra", "address": "10.0.0.1"}]))
    assert execute(job.pk) == "failed"
    assert "changed after the upload" in Job.objects.get(pk=job.pk).error and not Node.objects.exists()


def test_large_import_from_the_page_follows_the_job(admin, client, no_enqueue, settings):
    client.force_login(admin)
    resp = client.post("/nodes/import/", {"format": "csv", "step": "commit",
                                          "content": csv_rows(settings.NODES_IMPORT_SYNC_MAX_ROWS + 1)})
    job = Job.objects.get(kind="nodes.import")
    assert resp.status_code == 302 and resp["Location"] == f"/jobs/{job.pk}/"


def test_request_bodies_are_capped(admin, api, client, settings):
    settings.MAX_REQUEST_BODY_BYTES = 10_000
    big = {"format": "csv", "content": csv_rows(400)}
    resp = api(admin).post(IMPORT, big, format="json")
    assert resp.status_code == 413 and "larger than 10000 bytes" in resp.json()["detail"]
    client.force_login(admin)
    assert client.post("/nodes/import/", big).status_code == 413
    assert not Node.objects.exists()
