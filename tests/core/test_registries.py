"""Core's registries (dashboard panels, /metrics collectors, global search, job kinds) are filled by
the apps above it in their AppConfig.ready(), and what they show follows each app's visibility."""
import pytest
from django.contrib.auth.models import Group

from apps.core import dashboard, metrics, search
from apps.jobs import registry
from apps.jobs import services as jobs
from apps.keyvault.services import create_secret
from apps.nodes import services as nodes
from apps.rbac import services as rbac

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr(jobs, "enqueue", lambda job: None)


def test_the_apps_fill_the_registries():
    assert {"jobs.counts", "jobs.operations", "jobs.recent"} <= {p.name for p in dashboard.panels()}
    assert {s.model._meta.label for s in search.searchables()} >= {
        "core.AuditEvent", "rbac.Project", "keyvault.Secret", "jobs.Job", "nodes.Node"}
    kinds = {k.name: k.permission for k in registry.all_kinds()}
    # The system's kinds kept their names and permissions when they moved out of core.
    assert kinds["core.selfcheck"] == "jobs.run_selfcheck" and kinds["core.pulse"] == "jobs.run_diagnostics"
    assert {"nodes.test_connection", "nodes.probe", "nodes.import"} <= set(kinds)


def test_every_job_kinds_module_is_loaded_at_start_up():
    """A `job_kinds` module its app's ready() forgets would leave its kinds silently missing. In a
    fresh process (here the test modules have imported everything already)."""
    import subprocess
    import sys

    probe = (
        "import importlib.util, sys, django; django.setup(); from django.apps import apps; "
        "print(sorted(c.name for c in apps.get_app_configs() if c.name.startswith('apps.') "
        "and importlib.util.find_spec(c.name + '.job_kinds') and c.name + '.job_kinds' not in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_registering_again_replaces(client, make_user):
    """An app's ready() may run twice (tests, reloads): no duplicate panel, no duplicate metric."""
    from apps.jobs.apps import JobsConfig
    from django.apps import apps

    before = [p.name for p in dashboard.panels()]
    JobsConfig.ready(apps.get_app_config("jobs"))
    assert [p.name for p in dashboard.panels()] == before
    assert metrics.render().decode().count("# TYPE aimatrix_jobs gauge") == 1


def test_dashboard_leaves_out_a_panel_with_nothing_to_show(client, make_user):
    client.force_login(make_user("viewer"))
    html = client.get("/").content.decode()
    assert 'data-panel="jobs.counts"' in html and 'data-panel="jobs.recent"' in html
    assert 'data-panel="jobs.operations"' not in html  # may start nothing


def test_search_finds_only_what_the_user_may_see(make_user, root):
    dev = make_user("dev", "keyvault.view_secret")  # engineers see no secrets; this one sees its project's
    dev.groups.add(Group.objects.get(name="engineer"))
    team = rbac.create_project(None, "gpu-team", owner=dev)
    rbac.create_project(None, "gpu-other")
    nodes.create_node(root, name="gpu-mine", address="10.0.0.1", project=team)
    nodes.create_node(root, name="gpu-theirs", address="10.0.0.2")
    create_secret(root, name="gpu-key", value="gpu-value", project=team)
    create_secret(root, name="gpu-elsewhere", value="v")
    create_secret(root, name="plain", value="v", description="the gpu fleet's key", project=team)
    jobs.start_job(root, "core.selfcheck")

    mine = {(hit.label, hit.text) for hit in search.search(dev, "gpu")}
    assert mine == {("Nodes", "gpu-mine"), ("Projects", "gpu-team"), ("Secrets", "gpu-key")}
    # Secrets match by name only: neither the value nor the description is searched.
    assert search.search(dev, "value") == [] and not [h for h in search.search(root, "fleet")]
    # Jobs: the requester's own; the audit log: only for holders of core.view_auditevent.
    assert {h.label for h in search.search(root, "selfcheck")} == {"Jobs", "Audit entries"}
    assert search.search(dev, "selfcheck") == []
    assert "Audit entries" in {h.label for h in search.search(root, "node.create")}
    assert "Audit entries" not in {h.label for h in search.search(dev, "node.create")}
    node_hit = next(h for h in search.search(dev, "gpu-mine") if h.label == "Nodes")
    assert node_hit.url.startswith("/nodes/")


def test_search_of_nothing_or_nul_finds_nothing(root):
    assert search.search(root, "") == [] and search.search(root, "\x00 ") == []
