"""Pages: GPU list, GPU detail with live charts, the labels/maintenance form. Every change goes
through apps.gpus.services (permission, validation, audit), as the API's does."""
from django.contrib.auth.mixins import LoginRequiredMixin
from django.urls import reverse
from django.views.generic import DetailView

from apps.core.audit import change_log
from apps.core.list_views import KitListView, detail_tab
from apps.core.redirects import safe_next_url
from apps.rbac.page_views import KitFormView, ObjectMixin
from apps.rbac.permissions import can

from . import holders, services
from .filters import GpuFilter
from .forms import GpuForm
from .models import GpuEvent
from .tables import GpuTable

# The chart ranges the detail page offers: (key, label, seconds); the page asks for about 300 points.
CHART_RANGES = (("hour", "Hour", 3600), ("day", "Day", 86400), ("week", "Week", 7 * 86400))
CHART_REFRESH_S = 30  # the agent's interval: a faster poll would redraw the same points


def gpu_url(gpu) -> str:
    return reverse("gpus:detail", args=[gpu.pk])


class GpuListView(KitListView):
    template_name = "gpus/gpu_list.html"
    filterset_class = GpuFilter
    table_class = GpuTable
    page_title = "GPUs"
    page_intro = "Every GPU of the nodes you may see, with its health and newest sample."
    export_name = "gpus.csv"
    empty = {"title": "No GPUs yet", "lab_hint": True,
             "text": "GPUs appear when a node reports its inventory: through the node agent, or the agentless "
                     "poll over SSH.",
             "how": "Open a node and follow its GPU agent section, or wait for the next agentless poll."}

    def base_queryset(self):
        return services.visible_gpus(self.request.user)  # select_related("node"): the node column


class GpuDetailView(LoginRequiredMixin, DetailView):
    template_name = "gpus/gpu_detail.html"
    context_object_name = "gpu"

    def get_queryset(self):
        return services.visible_gpus(self.request.user)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        gpu, user = self.object, self.request.user
        ctx.update(
            may_change=can(user, gpu, "change"),
            events=list(GpuEvent.objects.filter(gpu=gpu).order_by("-ts", "-id")[:20]),
            sample=gpu.last_sample or {},
            changes=change_log(user, gpu),
            holders=holders.holders([gpu.pk]).get(gpu.pk, []),
            active_tab=detail_tab(self.request),
            chart_ranges=CHART_RANGES,
            chart_refresh_s=CHART_REFRESH_S,
            metrics_url=reverse("api:gpu-metrics", args=[gpu.pk]),
        )
        return ctx


class GpuEditView(ObjectMixin, KitFormView):
    """/gpus/<pk>/edit/: labels and maintenance (needs `change` on the GPU)."""

    form_class = GpuForm
    template_name = "kit/form_page.html"
    required_action = "change"
    page_title = "Edit GPU {obj}"
    page_intro = ("Labels select GPUs in lists, the API and event rules. Maintenance takes the GPU out of "
                  "service with the reason you give, until you set it back to OK.")
    success_message = "Saved GPU {obj}."

    def visible_queryset(self):
        return services.visible_gpus(self.request.user)

    @property
    def cancel_url(self):
        return gpu_url(self.object)

    def form_kwargs(self):
        return {"gpu": self.object}

    def save(self, form):
        changes = form.changes()
        return services.update_gpu(self.request.user, self.object, **changes) if changes else self.object

    def get_success_url(self, obj=None):
        return safe_next_url(self.request, gpu_url(obj or self.object))
