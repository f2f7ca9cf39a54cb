"""`make screenshots` (devtools.screenshots) covers the pages the README shows and the issue asks
for, at desktop and phone width: each shot's URL resolves to the intended view, built from the
demo fleet's own node names (a renamed node breaks this test, not the screenshot run)."""
from types import SimpleNamespace

from django.urls import resolve

from devtools import demo_fleet, screenshots

REQUIRED = {"dashboard": "dashboard", "node-list": "nodes:list", "node-detail": "nodes:detail",
            "job-live": "jobs:detail", "import-preview": "nodes:import"}


def _fleet_of_pks():
    nodes = {name: SimpleNamespace(pk=pk) for pk, (name, *_) in enumerate(demo_fleet.NODES, start=1)}
    return SimpleNamespace(nodes=nodes, running=SimpleNamespace(job=SimpleNamespace(pk=99)))


def test_shots_cover_the_required_pages():
    fleet = _fleet_of_pks()
    views = {shot.name: resolve(shot.path(fleet)).view_name for shot in screenshots.SHOTS}
    assert {name: views.get(name) for name in REQUIRED} == REQUIRED


def test_every_shot_is_taken_at_desktop_and_phone_width():
    assert sorted(v["width"] for v in screenshots.VIEWPORTS.values()) == [390, 1440]
    files = {f"{shot.name}-{width}" for shot in screenshots.SHOTS for width in screenshots.VIEWPORTS}
    # The README's images are among the files the run writes.
    assert set(screenshots.DOCS) <= files
    assert {"dashboard-desktop", "job-live-desktop"} <= set(screenshots.DOCS)


def test_the_live_job_shot_waits_for_the_progress_to_move():
    live = next(shot for shot in screenshots.SHOTS if shot.name == "job-live")
    assert live.prepare is screenshots._wait_for_progress_to_move
