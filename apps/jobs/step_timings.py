"""How long each step of an ended job took: from its step event to the next one, the last to the end."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .models import EventKind, Job, JobEvent


@dataclass(frozen=True)
class StepTiming:
    name: str
    started_at: datetime
    ended_at: datetime


def step_timings(job: Job) -> list[StepTiming]:
    """Empty while the job runs (the page's live list covers that) or when it logged no steps."""
    if job.is_active:
        return []
    steps = list(JobEvent.objects.filter(job=job, kind=EventKind.STEP).order_by("seq").values_list("message", "timestamp"))
    if not steps:
        return []
    end = job.finished_at or steps[-1][1]
    ends = [ts for _, ts in steps[1:]] + [max(end, steps[-1][1])]
    return [StepTiming(name, ts, until) for (name, ts), until in zip(steps, ends)]
