"""Against the lab: the simulated nvidia-smi of a lab host is made hot (above 85 C) through its
control file, agentless collection reads it over real SSH, the alert fires once the temperature
held for the rule's for-duration and resolves when it comes back, publishing both events.

Time is read from the samples themselves (the evaluator is given `now`), so the verdicts do not
depend on how long a collection takes on a loaded machine: the sleeps only guarantee minimum gaps
between collections."""
import math
import time

import pytest

from apps.events.alerts import evaluate
from apps.events.models import Alert, AlertRule, AlertState, Event, EventType
from apps.events import services
from apps.gpus import collect
from apps.gpus.models import Gpu, GpuSample
from devtools import lab_gpus

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live]
HOST = "lab-node1"


@pytest.fixture
def lab_node(fleet, lab_inventory):
    lab_gpus.reset(lab_inventory, HOST)
    yield fleet["nodes"][HOST], fleet["admin"]
    lab_gpus.reset(lab_inventory, HOST)


def _newest_ts(gpu):
    return GpuSample.objects.filter(gpu=gpu).order_by("-ts").values_list("ts", flat=True).first()


def test_lab_temperature_above_85_fires_and_resolves(lab_node, lab_inventory, settings):
    node, admin = lab_node
    settings.EVENTS_ALERT_SLACK = 1.0  # samples reach back to the window's start within 1 s
    AlertRule.objects.update(enabled=False)  # only the rule of this test
    collect.collect([node], purpose="test")  # cool: the lab's plausible values
    gpu = Gpu.objects.get(node=node, index=0, present=True)
    assert gpu.last_sample["temperature_c"] < 85
    time.sleep(1.1)
    lab_gpus.set_gpu(lab_inventory, HOST, 0, temperature_c=91)
    collect.collect([node], purpose="test")
    first_hot = _newest_ts(gpu)
    time.sleep(1.1)
    collect.collect([node], purpose="test")
    last_hot = _newest_ts(gpu)
    # The for-duration is the span the two hot samples cover (rounded up): it held that long.
    held = math.ceil((last_hot - first_hot).total_seconds())
    rule = services.create_alert_rule(admin, name="lab hot", metric="gpu.temperature_c", comparison=">",
                                      threshold=85, for_seconds=held, severity="critical")
    assert evaluate(now=last_hot)["fired"] == 1
    alert = Alert.objects.get(rule=rule)
    assert (alert.state, alert.value, alert.object_id, alert.started_at) == (AlertState.FIRING, 91.0, str(gpu.pk),
                                                                           last_hot)
    assert Event.objects.get(type=EventType.ALERT_FIRING).object_repr == str(gpu)
    # Longer than the hot samples reach back: the condition has not held that long, nothing new fires.
    rule.for_seconds = held + 2
    rule.save()
    Alert.objects.filter(pk=alert.pk).delete()
    assert evaluate(now=last_hot)["fired"] == 0
    rule.for_seconds = held
    rule.save()
    assert evaluate(now=last_hot)["fired"] == 1
    alert = Alert.objects.get(rule=rule)
    # Back below 85 C: resolved with the value and the time.
    time.sleep(1.1)
    lab_gpus.set_gpu(lab_inventory, HOST, 0, temperature_c=None)
    collect.collect([node], purpose="test")
    cool = _newest_ts(gpu)
    assert evaluate(now=cool)["resolved"] == 1
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED and alert.resolved_at == cool and alert.last_value < 85
    assert Event.objects.filter(type=EventType.ALERT_RESOLVED, data__alert=alert.pk).exists()
