"""runner.waiting(): a long wait moves the progress bar and says what it waits for; cancel stops it."""
import pytest

from apps.jobs.models import EventKind, Job, JobStatus
from apps.jobs.runner import JobCancelled, JobRunner
from apps.nodes.bmc import PowerTimeout, wait_for_power

pytestmark = pytest.mark.django_db


class SlowBmc:
    """A BMC that reports `off` for the first `polls` polls, then `on`."""

    def __init__(self, polls):
        self.polls = polls

    def power_state(self):
        self.polls -= 1
        return "on" if self.polls < 0 else "off"


@pytest.fixture
def runner(make_user):
    job = Job.objects.create(kind="nodes.power", status=JobStatus.RUNNING, requester=make_user("op"))
    with JobRunner(job) as runner:
        runner.WAIT_REPORT_INTERVAL = 0
        yield runner


def _progress(job):
    return [(e.data["progress"], e.message) for e in job.events.filter(kind=EventKind.PROGRESS).order_by("seq")]


def test_a_wait_reports_what_it_waits_for_with_a_growing_bar(runner):
    waited = wait_for_power(SlowBmc(3), "on", 2.0, poll_interval=0.05,
                            sleep=runner.waiting("power on", 2.0, start=10))
    events = _progress(runner.job)
    assert waited > 0 and len(events) == 3  # one report per poll that found the BMC not yet on
    percents = [p for p, _ in events]
    assert percents == sorted(percents) and all(10 <= p <= 99 for p in percents)
    assert all(m.startswith("Waiting for power on: ") and m.endswith("of at most 2 s") for _, m in events)


def test_the_bar_reaches_the_end_of_its_range_at_the_deadline(runner):
    with pytest.raises(PowerTimeout):
        wait_for_power(SlowBmc(10_000), "on", 0.3, poll_interval=0.05, sleep=runner.waiting("power on", 0.3))
    assert _progress(runner.job)[-1][0] == 99


def test_a_cancel_request_stops_a_wait(runner):
    Job.objects.filter(pk=runner.job_id).update(cancel_requested=True)
    with pytest.raises(JobCancelled):
        wait_for_power(SlowBmc(10_000), "on", 60, poll_interval=0.05, sleep=runner.waiting("power on", 60))
