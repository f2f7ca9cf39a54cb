"""The contract world: built once per module inside a transaction that is rolled back at the
end; each test runs in its own savepoint on top, and each role's request in another."""
import pytest
from django.db import transaction
from django.template import Template
from django.test.utils import _TestState, override_settings

from apps.jobs import services as job_services

from .world import build_world, log_in


def _no_enqueue(job):
    """Write actions create jobs but must not start real Celery work."""


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr(job_services, "enqueue", _no_enqueue)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    # No Celery worker runs here: /api/health answers 503 at once instead of waiting for pings.
    with django_db_blocker.unblock(), pytest.MonkeyPatch.context() as patch, \
            override_settings(HEALTH_WORKER_TIMEOUT=0.05):
        patch.setattr(job_services, "enqueue", _no_enqueue)
        # The test client copies every template context for inspection; nothing here inspects
        # them, and the admin renders hundreds of templates: render as production does.
        patch.setattr(Template, "_render", _TestState.saved_data.template_render)
        outer = transaction.atomic()
        outer.__enter__()
        try:
            built = build_world()
            log_in(built)
            yield built
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def pytest_terminal_summary(terminalreporter):
    """The coverage figure the README quotes, whenever the contract ran."""
    reports = [r for group in terminalreporter.stats.values() for r in group if hasattr(r, "nodeid")]
    if not any(r.nodeid.startswith("tests/contract/") for r in reports):
        return
    try:
        from .contract import coverage

        c = coverage()
    except Exception as exc:  # noqa: BLE001 - a broken URL conf already failed the tests; say so, do not crash
        terminalreporter.write_line(f"contract coverage: unavailable ({type(exc).__name__}: {exc})")
        return
    families = ", ".join(f"{name} {count}" for name, count in c["families"].items())
    terminalreporter.write_line(
        f"contract coverage: {c['routes']} routes, {c['cases']} route x method cases ({families}) "
        f"x {c['roles']} roles = {c['checks']} checks; {c['undeclared_or_stale']} undeclared or stale")
