"""The GPU pages in a real browser: the GPU page draws its four charts from the metrics API (points
from samples stored through the ingest), switches range and keeps polling without a script or
console error; the node page draws its node metrics; the dashboard shows the heat map; axe-core
finds no serious or critical violation; nothing is wider than a phone."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.gpus import rollups
from apps.gpus.ingest import ingest
from apps.gpus.models import Gpu
from apps.nodes import services as nodes
from tests.gpus.conftest import gpu_sample, inventory_item, iso, record

from .conftest import login
from .test_layout import AXE, AXE_RUN, PHONE, _context_page

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live, pytest.mark.browser]


@pytest.fixture
def sampled_node(make_user):
    boss = make_user("gpu-boss", superuser=True)
    node = nodes.create_node(boss, name="gpu-browser", address="10.0.0.60")
    now = timezone.now()
    times = [now - dt.timedelta(minutes=m) for m in range(0, 50, 5)]
    ingest(node, record(
        inventory=[inventory_item(0), inventory_item(1)],
        gpu_samples=[gpu_sample(f"GPU-test-{i}", t, utilization_pct=30.0 + 5 * k + 20 * i)
                     for i in range(2) for k, t in enumerate(times)],
        node_samples=[{"ts": iso(t), "cpu_pct": 20.0, "load1": 1.5, "memory_used_bytes": 4e9,
                       "memory_total_bytes": 1.6e10, "net_rx_bps": 1e6, "net_tx_bps": 5e5, "disk_read_bps": 2e6,
                       "disk_write_bps": 1e6} for t in times]), source="agent")
    # What beat's rollup task does every minute: the day and week ranges read the rollups.
    rollups.roll_minutes(now - dt.timedelta(hours=1), now + dt.timedelta(minutes=1))
    rollups.roll_hours(now - dt.timedelta(hours=2), now + dt.timedelta(hours=1))
    return node


@pytest.mark.parametrize("viewport, color_scheme", [({"width": 1280, "height": 900}, "light"), (PHONE, "dark")])
def test_gpu_page_draws_live_charts_without_errors(browser, live_server_url, sampled_node, viewport, color_scheme):
    gpu = Gpu.objects.get(uuid="GPU-test-1")
    context, page, problems = _context_page(browser, viewport=viewport, color_scheme=color_scheme)
    requests: list[str] = []
    page.on("request", lambda r: "/metrics/" in r.url and requests.append(r.url))
    try:
        page.clock.install()  # the page's 30 s poll is then run by the test, not waited for
        login(page, live_server_url, "gpu-boss")
        page.goto(f"{live_server_url}/gpus/{gpu.pk}/")
        charts = page.locator("#gpu-charts [data-metric-chart] .uplot canvas")
        expect(charts).to_have_count(4)
        # The hour's points arrived from the API and were handed to the charts.
        page.wait_for_function("Number(document.querySelector('#gpu-charts').dataset.loaded) >= 10")
        expect(page.locator("#gpu-charts [data-chart-status]")).to_contain_text("Updated")
        # uPlot's legend shows the value under the cursor: hover the middle of the utilization chart.
        page.locator("#gpu-charts [data-metric-chart] .u-over").first.hover()
        legend = page.locator("#gpu-charts [data-metric-chart]").first.locator(".u-legend .u-series").nth(1)
        expect(legend).to_contain_text("%")
        page.click("#gpu-charts [data-range='86400']")
        expect(page.locator("#gpu-charts [data-range='86400']")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#gpu-charts [data-chart-status]")).to_contain_text("Updated")
        assert any("step=288" in url for url in requests), requests  # a day in about 300 points
        # Live: 30 s later the page asks again, for the range shown.
        with page.expect_response(lambda r: "/metrics/" in r.url and "step=288" in r.url) as polled:
            page.clock.run_for(31_000)
        assert polled.value.ok
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"the GPU page is {width} px wide on a {viewport['width']} px screen"
        page.mouse.move(0, 0)  # audit the page at rest, not a button caught mid hover transition
        page.add_script_tag(path=str(AXE))
        assert page.evaluate(AXE_RUN) == [], "GPU page"

        page.goto(f"{live_server_url}/nodes/{sampled_node.pk}/")
        expect(page.locator("#node-charts [data-metric-chart] .uplot canvas")).to_have_count(5)
        page.wait_for_function("Number(document.querySelector('#node-charts').dataset.loaded) >= 10")
        expect(page.locator("#node-gpu-table tbody tr")).to_have_count(2)
        page.add_script_tag(path=str(AXE))
        assert page.evaluate(AXE_RUN) == [], "node page"

        page.goto(f"{live_server_url}/")
        expect(page.locator("#gpu-heatmap a.gpu-heat")).to_have_count(1)
        page.add_script_tag(path=str(AXE))
        # The GPU panel only: with no job at all, the recent-jobs table is an empty scrolling region
        # on a phone (the jobs panel's own test has jobs).
        panel_run = AXE_RUN.replace("axe.run(document,", "axe.run('[data-panel=\"gpus.fleet\"]',")
        assert panel_run != AXE_RUN
        assert page.evaluate(panel_run) == [], "dashboard GPU panel"
        page.click("#gpu-heatmap a.gpu-heat")
        expect(page).to_have_url(f"{live_server_url}/nodes/{sampled_node.pk}/")
        assert not problems, problems
    finally:
        context.close()
