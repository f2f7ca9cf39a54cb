"""Cluster pages: the list, a cluster's page (node grid, partitions, queue), the external-cluster
page of the seed (connect form with test-connection preview, list, refresh, delete). Every change
goes through apps.clusters.services, as the API's does."""
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView

from apps.core.audit import change_log
from apps.core.contenttypes import content_type_for
from apps.core.errors import ServiceError
from apps.core.list_views import KitListView, detail_tab
from apps.core.page_messages import report_service_error
from apps.jobs import services as jobs
from apps.rbac.page_views import KitDeleteView, KitFormView, add_service_errors
from apps.rbac.permissions import can

from apps.gpus.views import CHART_RANGES

from . import services
from .filters import ClusterFilter
from .forms import ConnectForm
from .models import Cluster, ClusterKind
from .tables import NODE_STATE_TONES, ClusterTable


CHART_REFRESH_S = 30  # the queue sync's interval
HEALTH_RANK = {"failed": 3, "degraded": 2, "maintenance": 1}


def worst_gpu_health(node_ids) -> dict:
    """{node id: (worst health of its present GPUs other than ok, count of such GPUs)} in one query."""
    from apps.gpus.models import Gpu

    out = {}
    for node_id, health in (Gpu.objects.filter(node_id__in=node_ids, present=True).exclude(health="ok")
                            .values_list("node_id", "health")):
        worst, count = out.get(node_id, ("", 0))
        out[node_id] = (health if HEALTH_RANK.get(health, 0) > HEALTH_RANK.get(worst, 0) else worst, count + 1)
    return out


class ClusterListView(KitListView):
    template_name = "clusters/cluster_list.html"
    filterset_class = ClusterFilter
    table_class = ClusterTable
    page_title = "Clusters"
    page_intro = "Slurm clusters the portal manages or operates, with node states and queue from the last sync."
    export_name = "clusters.csv"
    empty = {"title": "No clusters yet", "lab_hint": True,
             "text": "Connect an existing Slurm cluster through its controller node, or let the lab register its own.",
             "how": "Register the controller as a node (with its SSH credential), then connect it here."}

    def base_queryset(self):
        return services.visible_clusters(self.request.user)

    def get_empty_context(self):
        ctx = super().get_empty_context()
        if self.request.user.has_perm("clusters.add_cluster"):
            ctx.update(action_url=reverse("clusters:external"), action_label="Connect a cluster")
        return ctx

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs),
                "may_connect": self.request.user.has_perm("clusters.add_cluster")}


class ClusterDetailView(LoginRequiredMixin, DetailView):
    template_name = "clusters/cluster_detail.html"
    context_object_name = "cluster"

    def get_queryset(self):
        return services.visible_clusters(self.request.user)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        cluster, user = self.object, self.request.user
        members = list(cluster.members.select_related("node").order_by("slurm_name"))
        gpu_health = worst_gpu_health([m.node_id for m in members if m.node_id])
        for member in members:
            member.gpu_health = gpu_health.get(member.node_id)
        ctx.update(
            may_change=can(user, cluster, "change"), may_delete=can(user, cluster, "delete"),
            members=members, tones=NODE_STATE_TONES,
            partitions=list(cluster.partitions.order_by("-is_default", "name")),
            changes=change_log(user, cluster), active_tab=detail_tab(self.request),
            chart_ranges=CHART_RANGES, chart_refresh_s=CHART_REFRESH_S,
            metrics_url=reverse("api:cluster-metrics", args=[cluster.pk]),
            jobs=jobs.visible_jobs(user).filter(target_type=content_type_for(Cluster), target_id=str(cluster.pk))[:20],
        )
        return ctx


class ExternalClustersView(KitFormView):
    """/clusters/external/: the connect form ("Test connection" shows a preview and saves nothing;
    "Add cluster" saves and starts discovery), and the external clusters already connected."""

    form_class = ConnectForm
    template_name = "clusters/external.html"
    page_title = "External clusters"
    page_intro = ("Connect an existing Slurm cluster through its controller node. The portal reads and operates "
                  "it over SSH; with the reuse options on it never rewrites its configuration, munge key or "
                  "accounting.")
    submit_label = "Add cluster"
    success_message = "Connected {obj}: discovering its partitions and nodes."

    def may_create(self) -> bool:
        return True  # the list is for every viewer; the form only for those who may connect

    def form_kwargs(self):
        return {"user": self.request.user}

    def post(self, request, *args, **kwargs):
        if not request.user.has_perm("clusters.add_cluster"):
            raise PermissionDenied("You may not connect clusters.")
        form = self.get_form()
        if request.POST.get("action") == "test":
            if not form.is_valid():
                return self.form_invalid(form)
            try:
                preview = services.test_connection(request.user, **form.test_fields())
            except ServiceError as exc:
                add_service_errors(form, exc)
                return self.render_to_response(self.get_context_data(form=form), status=exc.status)
            return self.render_to_response(self.get_context_data(form=form, preview=preview))
        return super().post(request, *args, **kwargs)

    def save(self, form):
        cluster, job = services.connect(self.request.user, kind=ClusterKind.EXTERNAL, **form.connect_fields())
        self.job = job
        return cluster

    def get_success_url(self, obj=None):
        return reverse("clusters:external")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        user = self.request.user
        ctx.update(may_connect=user.has_perm("clusters.add_cluster"),
                   clusters=list(services.visible_clusters(user).filter(kind=ClusterKind.EXTERNAL)),
                   cancel_url=None)
        ctx["may_change"] = {c.pk for c in ctx["clusters"] if can(user, c, "change")}
        ctx["may_delete"] = {c.pk for c in ctx["clusters"] if can(user, c, "delete")}
        return ctx


class ClusterRefreshView(LoginRequiredMixin, View):
    """POST: rediscover the cluster (a job); back to where the button was, saying which job."""

    http_method_names = ["post"]

    def post(self, request, pk):
        cluster = get_object_or_404(services.visible_clusters(request.user), pk=pk)
        try:
            job = services.refresh(request.user, cluster)
        except ServiceError as exc:
            report_service_error(request, exc)
            return redirect(cluster.get_absolute_url())
        messages.success(request, f"Refreshing {cluster}: job #{job.pk}.")
        return redirect(reverse("jobs:detail", args=[job.pk]))


class ClusterDeleteView(KitDeleteView):
    """Forget a cluster: its rows in the portal go; the cluster itself is never touched."""

    success_url = "clusters:list"

    def visible_queryset(self):
        return services.visible_clusters(self.request.user)

    def consequence(self, obj) -> str:
        return (f"{obj} leaves the portal with its partitions, node memberships and job history. The cluster itself "
                f"is not touched: Slurm keeps running as it is.")

    def confirmation(self, obj) -> dict:
        return {**super().confirmation(obj), "page_title": f"Remove {obj} from the portal?", "confirm_label": "Remove"}

    def delete(self, obj) -> None:
        services.forget(self.request.user, obj)

    def act(self, obj) -> str:
        name = str(obj)
        self.delete(obj)
        return f"Removed {name} from the portal."


class ClusterReservationsView(LoginRequiredMixin, DetailView):
    """/clusters/<pk>/reservations/: read live from the controller (as Slurm-web shows them)."""

    template_name = "clusters/reservations.html"
    context_object_name = "cluster"

    def get_queryset(self):
        return services.visible_clusters(self.request.user)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **services.reservations(self.request.user, self.object)}
