"""Pages: job list with filters, job detail with live progress, start/cancel/retry forms."""
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import DetailView

from apps.core.errors import ServiceError
from apps.core.list_views import KitListView
from apps.core.page_messages import report_service_error
from apps.core.redirects import redirect_next

from apps.rbac.permissions import can

from . import registry, services
from .filters import JobListFilter
from .models import EventKind, JobEvent
from .step_timings import step_timings
from .tables import JobTable


class VisibleJobsMixin(LoginRequiredMixin):
    def get_queryset(self):
        return services.visible_jobs(self.request.user).select_related("requester")


class JobListView(KitListView):
    template_name = "jobs/job_list.html"
    filterset_class = JobListFilter
    table_class = JobTable
    page_title = "Jobs"
    page_intro = "Every long operation: who started it, on what, how it went. Open one to follow it live."
    export_name = "jobs.csv"
    empty = {"title": "No jobs yet",
             "text": "A job is one long operation (a probe, a power action, a self-check) with its progress and log.",
             "how": "Jobs start from the buttons on node pages and lists, or from the self-check here."}

    def base_queryset(self):
        return services.visible_jobs(self.request.user).select_related("requester")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["startable"] = services.startable_kinds(self.request.user)
        return ctx


class JobDetailView(VisibleJobsMixin, DetailView):
    template_name = "jobs/job_detail.html"
    context_object_name = "job"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        job = self.object
        user = self.request.user
        ctx["kind"] = registry.get_kind(job.kind)
        # Whether the user may at all; the job's state picks which one shows, live on the page.
        ctx["may_cancel"] = can(user, job, "cancel")
        ctx["may_retry"] = ctx["kind"] is not None and user.has_perm(ctx["kind"].permission)
        ctx["step_timings"] = step_timings(job)
        return ctx


def log_line(event: JobEvent) -> str:
    """One event as '<time> [host] <level> <message>'; multi-line messages stay one line each."""
    level = (event.data or {}).get("level") or ("info" if event.kind == EventKind.LOG else event.kind)
    host = f"[{event.host}] " if event.host else ""
    message = event.message.replace("\r", "").replace("\n", "\n    ")
    return f"{event.timestamp.isoformat()} {host}{level} {message}\n"


class JobLogView(VisibleJobsMixin, View):
    """The whole log as a text file, streamed so a big log never sits in memory."""

    def get(self, request, pk):
        job = get_object_or_404(self.get_queryset(), pk=pk)
        events = JobEvent.objects.filter(job=job).order_by("seq").only(
            "timestamp", "kind", "host", "message", "data").iterator(chunk_size=2000)
        resp = StreamingHttpResponse((log_line(e) for e in events), content_type="text/plain; charset=utf-8")
        resp["Content-Disposition"] = f'attachment; filename="job-{job.pk}.log.txt"'
        return resp


class _JobActionView(LoginRequiredMixin, View):
    """POST-only form targets; errors come back as messages on the page."""

    def post(self, request, *args, **kwargs):
        try:
            job = self.perform(request, *args, **kwargs)
        except ServiceError as exc:
            report_service_error(request, exc)
            return redirect_next(request, "jobs:list")
        return redirect("jobs:detail", pk=job.pk)


class JobStartView(_JobActionView):
    def perform(self, request):
        return services.start_job(request.user, request.POST.get("kind", ""))


class JobCancelView(_JobActionView):
    def perform(self, request, pk):
        job = services.cancel_job(request.user, get_object_or_404(services.visible_jobs(request.user), pk=pk))
        messages.info(request, f"Cancel requested for job {job.pk}.")
        return job


class JobRetryView(_JobActionView):
    def perform(self, request, pk):
        job = services.retry_job(request.user, get_object_or_404(services.visible_jobs(request.user), pk=pk))
        messages.info(request, f"Started job {job.pk} as a retry of job {pk}.")
        return job
