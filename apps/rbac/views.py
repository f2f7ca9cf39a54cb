"""Pages: the projects the user may see, one project's members and object grants, and the grant
forms (add; revoke after a confirmation page). Changes go through apps.rbac.services."""
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.views.generic import DetailView, ListView

from apps.core.errors import ServiceError
from apps.core.page_messages import report_service_error

from . import services
from .forms import GrantForm
from .models import Project
from .permissions import can, restrict




class VisibleProjectsMixin(LoginRequiredMixin):
    def get_queryset(self):
        return restrict(Project.objects.prefetch_related("memberships__user"), self.request.user, "view")


class ProjectListView(VisibleProjectsMixin, ListView):
    template_name = "rbac/project_list.html"
    paginate_by = 100


class ProjectDetailView(VisibleProjectsMixin, DetailView):
    template_name = "rbac/project_detail.html"
    context_object_name = "project"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["may_manage"] = can(self.request.user, self.object, "manage")
        ctx["grants"] = services.list_grants(self.request.user, self.object)
        ctx["grant_form"] = GrantForm(auto_id="grant_%s")
        return ctx


class ProjectGrantAddView(VisibleProjectsMixin, View):
    """POST: give the project an action on one object; the service checks and audits."""

    def post(self, request, pk):
        project = get_object_or_404(self.get_queryset(), pk=pk)
        form = GrantForm(request.POST)
        if not form.is_valid():
            for field, errors in form.errors.items():
                messages.error(request, f"{field}: {' '.join(errors)}")
            return redirect("rbac:project", pk=project.pk)
        data = form.cleaned_data
        try:
            grant = services.grant_by_reference(request.user, project, data["object_type"], data["object_id"],
                                                data["permission"])
        except ServiceError as exc:
            report_service_error(request, exc)
        else:
            messages.success(request, f"Granted {grant.permission} on {grant.object_repr} to {project.name}.")
        return redirect("rbac:project", pk=project.pk)


class ProjectGrantRevokeView(VisibleProjectsMixin, View):
    """GET: the confirmation page; POST: revoke the grant."""

    def _grant(self, request, pk, grant_id):
        project = get_object_or_404(self.get_queryset(), pk=pk)
        grant = next((g for g in services.list_grants(request.user, project) if g.id == grant_id), None)
        if grant is None:
            messages.error(request, f"No grant {grant_id} held by {project.name}.")
        return project, grant

    def get(self, request, pk, grant_id):
        project, grant = self._grant(request, pk, grant_id)
        if grant is None:
            return redirect("rbac:project", pk=project.pk)
        return render(request, "rbac/grant_confirm_revoke.html", {"project": project, "grant": grant})

    def post(self, request, pk, grant_id):
        project, grant = self._grant(request, pk, grant_id)
        if grant is not None:
            try:
                services.revoke_grant(request.user, project, grant_id)
            except ServiceError as exc:
                report_service_error(request, exc)
            else:
                messages.success(request, f"Revoked {grant.permission} on {grant.object_repr} from {project.name}.")
        return redirect("rbac:project", pk=project.pk)
