"""Figures for the dashboard, counted from the database for what the user may see."""
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from apps.jobs import services as job_services
from apps.jobs.models import JobStatus


def dashboard_counts(user) -> dict:
    since = timezone.now() - timedelta(hours=24)
    jobs = job_services.visible_jobs(user).aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(status__in=JobStatus.active())),
        failed_24h=Count("id", filter=Q(status=JobStatus.FAILED, created_at__gte=since)),
        succeeded_24h=Count("id", filter=Q(status=JobStatus.SUCCEEDED, created_at__gte=since)),
    )
    return {"jobs": jobs}
