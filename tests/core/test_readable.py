"""Readable data: times, sizes, hardware summary, audit diffs and parameters, escaped."""
from datetime import timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from apps.core.audit import record_audit
from apps.core.templatetags import readable
from apps.jobs import services as jobs
from apps.nodes.models import Node

HOSTILE = '<script>alert(1)</script>'

FACTS = {
    "hostname": "gpu-07", "os": "Debian GNU/Linux 12", "kernel": "Linux 6.1.0", "arch": "x86_64",
    "cpu_model": "AMD EPYC 7763", "cpu_sockets": 2, "cpu_cores": 128, "cpu_threads": 256,
    "memory_bytes": 512 * 1024 ** 3,
    "disks": [{"name": "nvme0n1", "size_bytes": 3840755982336, "model": "SAMSUNG MZQL23T8"}],
    "nics": [{"name": "eth0", "mac": "aa:bb:cc:dd:ee:ff", "addresses": ["10.0.0.7", "fe80::1"]}],
    "gpus": [{"index": "0", "name": "NVIDIA H100 80GB HBM3", "memory_mib": "81559", "uuid": "GPU-1"}],
    "gpu_count": 1,
}


def render(text, **context):
    return Template("{% load readable %}" + text).render(Context(context))


@pytest.mark.parametrize("value, unit, expected", [
    (0, "B", "0 B"), (1023, "B", "1023 B"), (1536, "B", "1.5 KiB"), (512 * 1024 ** 3, "B", "512 GiB"),
    (3840755982336, "B", "3.5 TiB"), ("81559", "MiB", "79.6 GiB"), (None, "B", "—"), ("n/a", "B", "n/a"),
])
def test_sizes_are_binary_units(value, unit, expected):
    assert readable.size(value, unit) == expected


def test_time_has_one_format_with_zone_iso_and_relative_hint():
    now = timezone.now()
    moment = (now - timedelta(minutes=3, seconds=5)).replace(microsecond=0)
    html = render("{{ t|when }}", t=moment)
    assert f'<time datetime="{moment.isoformat()}"' in html
    assert moment.strftime("%Y-%m-%d %H:%M:%S UTC</time>") in html and "(3 min ago)" in html
    assert "in 2 d" in readable.relative(now + timedelta(days=2, minutes=1), now)
    assert render('{{ t|when:"never" }}', t=None) == "never"


def test_durations_use_the_two_largest_units():
    start = timezone.now() - timedelta(hours=2)
    assert readable.duration(start, start + timedelta(hours=2, minutes=5, seconds=9)) == "2 h 5 min"
    assert readable.duration(start, start + timedelta(seconds=63)) == "1 min 3 s"
    assert readable.duration(start, start + timedelta(milliseconds=400)) == "0.4 s"
    assert readable.duration(start) == "2 h so far"
    assert readable.duration(None) == "—"


def test_hardware_summary_reads_like_a_spec_sheet():
    html = str(readable.hardware_summary(FACTS))
    assert "AMD EPYC 7763 × 2 sockets / 128 cores / 256 threads" in html
    assert "<dt>Memory</dt><dd>512 GiB</dd>" in html
    assert "nvme0n1: 3.5 TiB (SAMSUNG MZQL23T8)" in html
    assert "eth0 [aa:bb:cc:dd:ee:ff]: 10.0.0.7, fe80::1" in html
    assert "#0 NVIDIA H100 80GB HBM3, 79.6 GiB" in html
    assert "{'" not in html  # no printed dict
    assert "Not probed yet." in str(readable.hardware_summary({}))


def test_hardware_brief_for_list_rows():
    assert readable.hardware_brief(FACTS) == "2×AMD EPYC 7763 · 512 GiB · 1 GPU"
    assert readable.hardware_brief({}) == "—"


def test_audit_diff_lists_only_changed_fields():
    html = str(readable.audit_diff({"before": {"state": "new", "labels": ["a"], "same": 1},
                                    "after": {"state": "ready", "labels": ["a", "b"], "same": 1, "port": 22}}))
    assert '<table class="diff">' in html
    assert '<th scope="row">state</th><td class="old">new</td><td class="new">ready</td>' in html
    assert '<td class="old">a</td><td class="new">a, b</td>' in html
    assert '<th scope="row">port</th><td class="old">—</td><td class="new">22</td>' in html
    assert "same" not in html
    assert readable.audit_diff({}) == ""


def test_parameters_are_a_definition_list():
    html = str(readable.definition_list({"nodes": [3, 4], "action": "off", "spec": {"a": 1}}))
    assert html == ('<dl class="params"><dt>nodes</dt><dd>3, 4</dd><dt>action</dt><dd>off</dd>'
                    '<dt>spec</dt><dd>{&quot;a&quot;: 1}</dd></dl>')


@pytest.mark.parametrize("html", [
    lambda: readable.hardware_summary({**FACTS, "hostname": HOSTILE, "cpu_model": HOSTILE,
                                       "disks": [{"name": HOSTILE, "size_bytes": 1, "model": HOSTILE}],
                                       "nics": [{"name": HOSTILE, "addresses": [HOSTILE]}],
                                       "gpus": [{"index": HOSTILE, "name": HOSTILE, "memory_mib": HOSTILE}]}),
    lambda: readable.audit_diff({"before": {HOSTILE: HOSTILE}, "after": {HOSTILE: [HOSTILE]}}),
    lambda: readable.definition_list({HOSTILE: HOSTILE, "x": {"k": HOSTILE}}),
    lambda: render("{{ v|when }}", v=HOSTILE),
    lambda: render("{{ f|hardware_brief }}", f={"cpu_model": HOSTILE, "cpu_sockets": 2}),
])
def test_hostile_values_are_escaped(html):
    text = str(html())
    assert "<script>" not in text and "&lt;script&gt;" in text


@pytest.mark.django_db
def test_node_detail_shows_hardware_summary(client, root):
    node = Node.objects.create(name="gpu-07", address="10.0.0.7", facts=FACTS)
    client.force_login(root)
    html = client.get(f"/nodes/{node.pk}/").content.decode()
    assert 'id="hardware-summary"' in html and "AMD EPYC 7763 × 2 sockets" in html and "512 GiB" in html
    assert "&#x27;cpu_model&#x27;" not in html and "'cpu_model'" not in html
    assert "2×AMD EPYC 7763 · 512 GiB · 1 GPU" in client.get("/nodes/").content.decode()


@pytest.mark.django_db
def test_audit_page_shows_a_diff_table(client, root):
    record_audit("node.update", actor=root, before={"state": "new"}, after={"state": HOSTILE})
    client.force_login(root)
    html = client.get("/audit/").content.decode()
    assert '<table class="diff">' in html and '<td class="old">new</td>' in html
    assert "&lt;script&gt;" in html and HOSTILE not in html
    assert "{&#x27;before&#x27;" not in html


@pytest.mark.django_db
def test_job_page_shows_parameters_as_definition_list(client, root, monkeypatch):
    monkeypatch.setattr(jobs, "enqueue", lambda job: None)
    node = Node.objects.create(name="gpu-08", address="10.0.0.8")
    job = jobs.start_job(root, "nodes.probe", {"nodes": [node.pk]}, target=node)
    client.force_login(root)
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    assert f'<dd id="job-params"><dl class="params"><dt>nodes</dt><dd>{node.pk}</dd></dl></dd>' in html
    assert "<time datetime=" in html and " UTC</time>" in html
    assert '<dd id="job-started" data-iso="">not yet</dd>' in html and '<dd id="job-duration">—</dd>' in html


@pytest.mark.django_db
def test_job_form_refusal_is_a_sentence_not_a_list(client, root):
    client.force_login(root)
    html = client.post("/jobs/start/", {"kind": "no.such"}, follow=True).content.decode()
    assert "kind: Unknown job kind &#x27;no.such&#x27;" in html
    assert "[&quot;Unknown" not in html and "[&#x27;Unknown" not in html
