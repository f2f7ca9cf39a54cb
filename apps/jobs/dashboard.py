"""The jobs' dashboard panels (registered with core's dashboard in JobsConfig.ready()).

Every number is computed from services.visible_jobs(user) and comes with the link to the job list
filtered to exactly the jobs it counts (the same status and created_after filters)."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from apps.core import dashboard
from apps.core.dashboard import PanelOrder

from . import services
from .models import JobStatus

HOURS = 24
RECENT_FAILURES = 5


def job_list_url(*, status=(), created_after: datetime | None = None) -> str:
    """The job list filtered like a dashboard number (status may repeat: queued OR running)."""
    query = [("status", str(s)) for s in status]
    if created_after is not None:
        query.append(("created_after", created_after.isoformat()))
    return reverse("jobs:list") + (f"?{urlencode(query)}" if query else "")


def job_counts(user) -> dict:
    """Jobs the user may see: all, active, and succeeded/failed in the last 24 h (the chart's window,
    so the tiles and the chart agree)."""
    since = window_start(timezone.now())
    counts = services.visible_jobs(user).aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(status__in=JobStatus.active())),
        failed_24h=Count("id", filter=Q(status=JobStatus.FAILED, created_at__gte=since)),
        succeeded_24h=Count("id", filter=Q(status=JobStatus.SUCCEEDED, created_at__gte=since)),
    )
    counts["links"] = {
        "total": job_list_url(),
        "active": job_list_url(status=JobStatus.active()),
        "failed_24h": job_list_url(status=[JobStatus.FAILED], created_after=since),
        "succeeded_24h": job_list_url(status=[JobStatus.SUCCEEDED], created_after=since),
    }
    return counts


def window_start(now: datetime) -> datetime:
    """The first of the 24 hourly buckets: the current hour is the last one."""
    return timezone.localtime(now).replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)


def job_activity(user) -> dict:
    """Jobs created per hour and status over the last 24 h: one grouped query, whatever the count."""
    since = window_start(timezone.now())
    rows = (services.visible_jobs(user).filter(created_at__gte=since).order_by()
            .annotate(hour=TruncHour("created_at")).values("hour", "status").annotate(n=Count("id")))
    hours = [since + timedelta(hours=i) for i in range(HOURS)]
    index = {hour: i for i, hour in enumerate(hours)}
    series = {status: [0] * HOURS for status in JobStatus.values}
    for row in rows:
        i = index.get(timezone.localtime(row["hour"]).replace(minute=0, second=0, microsecond=0))
        if i is not None and row["status"] in series:
            series[row["status"]][i] = row["n"]
    statuses = [{"value": s.value, "label": s.label, "total": sum(series[s.value]),
                 "url": job_list_url(status=[s], created_after=since)} for s in JobStatus]
    return {
        "since": since,
        "total": sum(s["total"] for s in statuses),
        "total_url": job_list_url(created_after=since),
        "statuses": statuses,
        "hours": [{"start": hour, "counts": [series[s.value][i] for s in JobStatus]} for i, hour in enumerate(hours)],
        # What static/js/dashboard-charts.js draws (embedded with json_script, never as markup).
        "chart": {"x": [int(hour.timestamp()) for hour in hours],
                  "series": [{"label": s.label, "status": s.value, "values": series[s.value]} for s in JobStatus]},
    }


def recent_failures(user) -> dict:
    """The last failed jobs with their reasons; the template escapes the reason like any text."""
    failed = services.visible_jobs(user).filter(status=JobStatus.FAILED).select_related("requester")
    return {"jobs": list(failed.order_by("-finished_at", "-created_at", "-id")[:RECENT_FAILURES]),
            "all_url": job_list_url(status=[JobStatus.FAILED])}


def operations(user) -> dict | None:
    """The job kinds without parameters the user may start with one click; no panel if none."""
    kinds = [kind for kind in services.startable_kinds(user) if kind.params_serializer is None]
    return {"kinds": kinds} if kinds else None


def recent_jobs(user) -> dict:
    return {"jobs": services.visible_jobs(user).select_related("requester")[:10]}


def register_panels() -> None:
    dashboard.register_panel("jobs.counts", template="jobs/_dashboard_counts.html",
                             context=job_counts, order=PanelOrder.SUMMARY)
    dashboard.register_panel("jobs.activity", template="jobs/_dashboard_activity.html",
                             context=job_activity, order=PanelOrder.ACTIVITY)
    dashboard.register_panel("jobs.operations", template="jobs/_dashboard_operations.html",
                             context=operations, order=PanelOrder.OPERATIONS)
    dashboard.register_panel("jobs.failures", template="jobs/_dashboard_failures.html",
                             context=recent_failures, order=PanelOrder.ATTENTION)
    dashboard.register_panel("jobs.recent", template="jobs/_dashboard_recent.html",
                             context=recent_jobs, order=PanelOrder.RECENT)
