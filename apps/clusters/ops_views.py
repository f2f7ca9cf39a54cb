"""Cluster page actions on nodes: change node states of the nodes selected on the cluster page
(a confirmation lists them, with the reason), and start the repair job. Both go through the
same services as the API (apps/clusters/node_states.py, node_health.py)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View

from apps.core.errors import ServiceError
from apps.core.page_messages import report_service_error
from apps.rbac.page_views import BulkAction, KitBulkView

from . import node_health, node_states, services
from .models import ClusterNode
from .node_states import NodeStateAction

CONSEQUENCES = {
    NodeStateAction.DRAIN: "Slurm starts no new job on these nodes; running jobs finish.",
    NodeStateAction.RESUME: "These nodes take jobs again.",
    NodeStateAction.DOWN: "Slurm marks these nodes down: jobs running on them are killed.",
    NodeStateAction.POWER_DOWN: "Slurm powers these nodes down (its power-saving programs) once idle.",
    NodeStateAction.POWER_UP: "Slurm powers these nodes up (its power-saving programs).",
}


class NodeStatesView(KitBulkView):
    """POST action=<drain|resume|down|power_down|power_up>, pk=<cluster node>..., reason: a
    confirmation listing the nodes (and the reason), then one job through node_states."""

    noun = "node"
    confirm_template_name = "clusters/node_states_confirm.html"

    def post(self, request, pk):
        self.cluster = get_object_or_404(services.visible_clusters(request.user), pk=pk)
        self.list_url = self.cluster.get_absolute_url()
        return super().post(request)

    def visible_queryset(self):
        return ClusterNode.objects.filter(cluster=self.cluster).order_by("slurm_name")

    @property
    def actions(self) -> dict:
        return {a.value: BulkAction(a.label, self._runner(a), CONSEQUENCES[a], destructive=True, check=self._check)
                for a in NodeStateAction}

    def _check(self, user, objects) -> None:
        node_states.check_may_manage(user, self.cluster)

    def _reason(self) -> str:
        return self.request.POST.get("reason", "")

    def _runner(self, action: NodeStateAction):
        def run(user, objects):
            job = node_states.manage_nodes(user, self.cluster, [m.slurm_name for m in objects], action.value,
                                           self._reason())
            messages.success(self.request, f"{action.label}: {len(objects)} node(s) of {self.cluster}, job #{job.pk}.")
            return redirect(reverse("jobs:detail", args=[job.pk]))
        return run

    def confirm_context(self, name, action, objects) -> dict:
        return {"reason": self._reason(), "needs_reason": NodeStateAction(name).needs_reason}


class NodeRepairView(LoginRequiredMixin, View):
    """POST: start the repair job (restart slurmd and resume nodes Slurm took out of service)."""

    http_method_names = ["post"]

    def post(self, request, pk):
        cluster = get_object_or_404(services.visible_clusters(request.user), pk=pk)
        try:
            job = node_health.start_repair(request.user, cluster)
        except ServiceError as exc:
            report_service_error(request, exc)
            return redirect(cluster.get_absolute_url())
        messages.success(request, f"Repairing nodes of {cluster}: job #{job.pk}.")
        return redirect(reverse("jobs:detail", args=[job.pk]))
