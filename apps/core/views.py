import hmac

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.http import HttpResponse
from django.views.generic import TemplateView
from prometheus_client import CONTENT_TYPE_LATEST

from . import dashboard, metrics, request_context
from .audit_table import AuditListFilter, AuditTable
from .list_views import KitListView
from .models import AuditEvent


class DashboardView(LoginRequiredMixin, TemplateView):
    template_name = "core/dashboard.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["panels"] = dashboard.panels_for(self.request.user)
        return ctx


def _may_scrape(request) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())
    if request.user.is_authenticated and request.user.is_staff:
        return True
    # The real client: behind a proxy on this host every peer would look like loopback.
    return request_context.client_ip(request.META) in {"127.0.0.1", "::1"}


def metrics_view(request):
    """Prometheus text format. With AIMATRIX_METRICS_TOKEN set, scrapers send it as a bearer token."""
    if not _may_scrape(request):
        return HttpResponse("metrics: not allowed\n", status=403, content_type="text/plain")
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)


class AuditLogView(PermissionRequiredMixin, KitListView):
    """The audit log: sortable, filtered by actor, action, object and time, exported as CSV."""

    permission_required = "core.view_auditevent"
    filterset_class = AuditListFilter
    table_class = AuditTable
    page_title = "Audit log"
    page_intro = "Every change, by whom, from where, with what changed. Entries are never edited or deleted."
    export_name = "audit.csv"
    empty = {"title": "No audit entries yet",
             "text": "Each change anyone makes (through pages, the API, the admin or jobs) leaves one entry here."}

    def base_queryset(self):
        return AuditEvent.objects.select_related("object_type")
