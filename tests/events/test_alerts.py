"""Alerts fire when the simulated GPU temperature stays above 85 C for the rule's for-duration
and resolve when it comes back, with values and times; samples go through the real ingest."""
import datetime as dt

import pytest
from django.utils import timezone

from apps.events.alerts import evaluate
from apps.events.models import Alert, AlertRule, AlertState, Event, EventType
from apps.gpus.ingest import ingest
from apps.gpus.models import Gpu
from tests.gpus.conftest import gpu_sample, record

pytestmark = pytest.mark.django_db
RULE = "GPU temperature above 85 C"


def feed(node, start, end, temperature, *, uuid="GPU-test-0", every=30):
    """Samples of one GPU every `every` seconds in [start, end], pushed as one record at `end`."""
    samples, ts = [], start
    while ts <= end:
        samples.append(gpu_sample(uuid, ts, temperature_c=temperature))
        ts += dt.timedelta(seconds=every)
    ingest(node, record(gpu_samples=samples, at=end), source="agent", now=end)


def test_the_seed_defaults_are_installed():
    rules = {r.name: (r.metric, r.comparison, r.threshold) for r in AlertRule.objects.all()}
    assert rules[RULE] == ("gpu.temperature_c", ">", 85.0)
    assert rules["GPU utilization above 95 %"] == ("gpu.utilization_pct", ">", 95.0)
    assert rules["GPU memory use above 90 %"] == ("gpu.memory_used_pct", ">", 90.0)
    assert rules["Job error rate above 5 % over an hour"] == ("job.error_rate_pct", ">", 5.0)
    assert AlertRule.objects.get(name="Job error rate above 5 % over an hour").window_seconds == 3600


def test_temperature_alert_fires_after_the_for_duration_and_resolves(two_gpus, django_capture_on_commit_callbacks):
    rule = AlertRule.objects.get(name=RULE)
    assert rule.for_seconds == 300
    t0 = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=20)
    feed(two_gpus, t0, t0 + dt.timedelta(minutes=4), 60.0)
    # Hot for 2 minutes only: shorter than the for-duration, nothing fires.
    hot_from = t0 + dt.timedelta(minutes=4, seconds=30)
    feed(two_gpus, hot_from, hot_from + dt.timedelta(minutes=2), 91.0)
    assert evaluate(now=hot_from + dt.timedelta(minutes=2))["fired"] == 0
    assert not Alert.objects.filter(rule=rule).exists()
    # Still hot 6 minutes after it began: fires, with the value and the time.
    fire_at = hot_from + dt.timedelta(minutes=6)
    feed(two_gpus, hot_from + dt.timedelta(minutes=2, seconds=30), fire_at, 92.5)
    with django_capture_on_commit_callbacks():
        assert evaluate(now=fire_at)["fired"] == 1
    alert = Alert.objects.get(rule=rule)
    gpu = Gpu.objects.get(uuid="GPU-test-0")
    assert (alert.state, alert.value, alert.started_at, alert.object_id) == (AlertState.FIRING, 92.5, fire_at,
                                                                           str(gpu.pk))
    assert alert.object_repr == str(gpu)
    fired = Event.objects.get(type=EventType.ALERT_FIRING)
    assert fired.object_id == str(gpu.pk) and fired.severity == "critical" and fired.data["value"] == 92.5
    assert fired.labels == ["rack-a"]  # the node's labels, for rules that filter on them
    # The other GPU stayed cool: no alert for it. A second evaluation does not fire again.
    assert evaluate(now=fire_at)["fired"] == 0
    assert Alert.objects.filter(rule=rule).count() == 1
    # Back to 70 C: resolved, with the value and the time.
    cool_at = fire_at + dt.timedelta(minutes=2)
    feed(two_gpus, fire_at + dt.timedelta(seconds=30), cool_at, 70.0)
    assert evaluate(now=cool_at)["resolved"] == 1
    alert.refresh_from_db()
    assert (alert.state, alert.resolved_at, alert.last_value) == (AlertState.RESOLVED, cool_at, 70.0)
    resolved = Event.objects.get(type=EventType.ALERT_RESOLVED)
    assert resolved.data["alert"] == alert.pk and resolved.data["resolved_at"] == cool_at.isoformat()


def test_no_samples_is_no_verdict(two_gpus):
    """A firing alert whose GPU stops reporting stays firing (silence is not recovery)."""
    rule = AlertRule.objects.get(name=RULE)
    t0 = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=30)
    feed(two_gpus, t0, t0 + dt.timedelta(minutes=6), 95.0)
    assert evaluate(now=t0 + dt.timedelta(minutes=6))["fired"] == 1
    assert evaluate(now=t0 + dt.timedelta(minutes=20))["resolved"] == 0
    assert Alert.objects.get(rule=rule).state == AlertState.FIRING


def test_scope_by_node_and_label(two_gpus, root):
    from apps.events import services

    t0 = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=30)
    feed(two_gpus, t0, t0 + dt.timedelta(minutes=2), 95.0)
    AlertRule.objects.update(enabled=False)
    other = services.create_alert_rule(root, name="hot elsewhere", metric="gpu.temperature_c", threshold=80,
                                       for_seconds=60, scope="node", scope_value="another-node")
    labelled = services.create_alert_rule(root, name="hot rack a", metric="gpu.temperature_c", threshold=80,
                                          for_seconds=60, scope="label", scope_value="rack-a")
    assert evaluate(now=t0 + dt.timedelta(minutes=2))["fired"] == 1
    assert not Alert.objects.filter(rule=other).exists()
    assert Alert.objects.filter(rule=labelled).count() == 1


def test_job_error_rate(settings, root):
    from apps.jobs.models import Job, JobStatus

    settings.EVENTS_JOB_ERROR_RATE_MIN_JOBS = 10
    now = timezone.now()
    Job.objects.bulk_create([Job(kind="core.selfcheck", status=JobStatus.FAILED if i < 2 else JobStatus.SUCCEEDED,
                                 finished_at=now - dt.timedelta(minutes=5)) for i in range(20)])
    result = evaluate(now=now)
    alert = Alert.objects.get(rule__metric="job.error_rate_pct")
    assert result["fired"] == 1 and alert.value == 10.0 and alert.object_id == "" and alert.state == "firing"
