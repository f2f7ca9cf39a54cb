"""Pages: the projects the user may see, and one project's members."""
from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import DetailView, ListView

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
        return ctx
