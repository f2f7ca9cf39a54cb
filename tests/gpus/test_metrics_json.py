"""The raw metrics answer on PostgreSQL: points and columns written as JSON text by the database
read back exactly as those built in Python and rendered by DRF (times, nulls, several samples per
bucket, fractional steps and starts)."""
import datetime as dt
import json

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from apps.core.api import raw_json
from apps.gpus import series as chart
from apps.gpus.series import Layout
from apps.gpus.ingest import ingest
from apps.gpus.models import Gpu

from .conftest import gpu_sample, iso, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def series(four_gpus):
    start = (timezone.now() - dt.timedelta(minutes=20)).replace(microsecond=0)
    samples = [gpu_sample("GPU-test-0", start + dt.timedelta(seconds=5 * i), utilization_pct=float(i % 7) * 10.5,
                          power_w=None if i % 11 == 0 else 300.25 + i, temperature_c=-3.5 if i == 4 else 61.0)
               for i in range(200)]
    ingest(four_gpus, record(gpu_samples=samples), source="agent")
    return Gpu.objects.get(uuid="GPU-test-0"), start


@pytest.mark.parametrize("offset_us, length_s, step", [(0, 1000, 5.0), (123457, 900, 7.3), (0, 1000, 59.5),
                                                       (0, 600, 1.0), (-250000, 50, 2.5)])
def test_database_written_points_equal_the_python_ones(series, offset_us, length_s, step):
    gpu, first = series
    start = first + dt.timedelta(microseconds=offset_us)
    end = start + dt.timedelta(seconds=length_s)
    python = json.loads(JSONRenderer().render(chart.metrics(gpu, start, end, step)))
    answer = chart.metrics(gpu, start, end, step, database_json=True)
    assert isinstance(answer["points"], raw_json.RawJSON)
    assert json.loads(answer["points"]) == python["points"] and python["points"]


@pytest.mark.parametrize("offset_us, length_s, step", [(0, 1000, 5.0), (123457, 900, 7.3), (0, 1000, 59.5),
                                                       (0, 600, 1.0), (-250000, 50, 2.5), (0, 1000, 10.0)])
def test_database_written_columns_equal_the_python_ones(series, offset_us, length_s, step):
    gpu, first = series
    start = first + dt.timedelta(microseconds=offset_us)
    end = start + dt.timedelta(seconds=length_s)
    python = json.loads(JSONRenderer().render(chart.metrics(gpu, start, end, step, Layout.COLUMNS)))
    written = json.loads(raw_json.render(chart.metrics(gpu, start, end, step, Layout.COLUMNS, database_json=True)))
    assert written == python and python["k"]
    points = json.loads(JSONRenderer().render(chart.metrics(gpu, start, end, step)))["points"]
    # The same figures as the points layout, point by point.
    assert len(points) == len(python["k"]) == len(python["samples"])
    for i, point in enumerate(points):
        assert dt.datetime.fromisoformat(point["t"]).timestamp() == pytest.approx(
            python["origin"] + python["k"][i] * step, abs=1e-6)
        assert point["samples"] == python["samples"][i]
        for name in python["metrics"]:
            assert point[name] == {"avg": python["avg"][name][i], "max": python["max"][name][i]}


def test_the_api_answer_is_the_same_object(series, api, root):
    gpu, start = series
    end = start + dt.timedelta(seconds=1000)
    response = api(root).get(f"/api/v1/gpus/{gpu.pk}/metrics/", {"start": iso(start), "end": iso(end), "step": 5})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    expected = json.loads(JSONRenderer().render(chart.metrics(gpu, start, end, 5.0)))
    assert response.json() == expected and len(expected["points"]) == 200


def test_an_empty_window_has_no_points(series, api, root):
    gpu, start = series
    later = start + dt.timedelta(days=2)
    window = {"start": iso(later), "end": iso(later + dt.timedelta(hours=1)), "step": 5}
    response = api(root).get(f"/api/v1/gpus/{gpu.pk}/metrics/", window)
    assert response.status_code == 200 and response.json()["points"] == []


def test_the_columns_answer_through_the_api(series, api, root):
    gpu, start = series
    end = start + dt.timedelta(seconds=1000)
    response = api(root).get(f"/api/v1/gpus/{gpu.pk}/metrics/",
                             {"start": iso(start), "end": iso(end), "step": 20, "layout": "columns"})
    assert response.status_code == 200
    body = response.json()
    assert body["layout"] == "columns" and body["k"] == list(range(50)) and body["samples"] == [4] * 50
    assert body["max"]["utilization_pct"][0] == 31.5  # samples 0-3: 0, 10.5, 21, 31.5
    assert body["avg"]["utilization_pct"][0] == pytest.approx((0 + 10.5 + 21 + 31.5) / 4)


def test_an_unknown_layout_is_refused_by_name(series, api, root):
    gpu, _ = series
    response = api(root).get(f"/api/v1/gpus/{gpu.pk}/metrics/", {"layout": "rows"})
    assert response.status_code == 400 and "layout" in response.json()


def test_a_stored_string_that_looks_like_a_marker_is_left_alone():
    answer = {"name": "raw-json-" + "0" * 32, "data": raw_json.RawJSON("[1,2]")}
    assert json.loads(raw_json.render(answer)) == {"name": "raw-json-" + "0" * 32, "data": [1, 2]}
