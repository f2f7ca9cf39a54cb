"""The jobs' dashboard panels (registered with core's dashboard in JobsConfig.ready())."""
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from . import services
from .models import JobStatus


def job_counts(user) -> dict:
    """Jobs the user may see: all, active, and succeeded/failed in the last 24 h."""
    since = timezone.now() - timedelta(hours=24)
    return services.visible_jobs(user).aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(status__in=JobStatus.active())),
        failed_24h=Count("id", filter=Q(status=JobStatus.FAILED, created_at__gte=since)),
        succeeded_24h=Count("id", filter=Q(status=JobStatus.SUCCEEDED, created_at__gte=since)),
    )


def operations(user) -> dict | None:
    """The job kinds without parameters the user may start with one click; no panel if none."""
    kinds = [kind for kind in services.startable_kinds(user) if kind.params_serializer is None]
    return {"kinds": kinds} if kinds else None


def recent_jobs(user) -> dict:
    return {"jobs": services.visible_jobs(user).select_related("requester")[:10]}
