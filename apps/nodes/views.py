"""Pages: node list with bulk actions, node detail, import. Changes go through services/jobs."""
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.urls import reverse, reverse_lazy
from django.views.generic import DetailView

from apps.core.errors import Forbidden, InvalidInput, ServiceError
from apps.core.list_views import KitListView
from apps.core.page_messages import report_service_error
from apps.core.redirects import redirect_next, safe_next_url
from apps.jobs import services as jobs
from apps.core.contenttypes import content_type_for
from apps.rbac.permissions import can

from . import importer, services
from .filters import NodeFilter
from .models import HostKey, Node
from .tables import NodeTable

POWER_ACTIONS = ["on", "graceful-shutdown", "off", "reset", "cycle"]


class NodeListView(KitListView):
    template_name = "nodes/node_list.html"
    filterset_class = NodeFilter
    table_class = NodeTable
    page_title = "Nodes"
    page_intro = "Machines reached over SSH, with their BMC and facts."
    export_name = "nodes.csv"
    bulk_url = reverse_lazy("nodes:bulk")
    empty = {"title": "No nodes yet", "lab_hint": True,
             "text": "A node is a machine the portal reaches over SSH (and its BMC, for power).",
             "how": "Add one by hand, or import many from CSV, JSON or YAML."}

    def base_queryset(self):
        return services.visible_nodes(self.request.user).select_related("project", "bmc")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        user = self.request.user
        ctx["may_import"] = importer.may_import(user)
        if ctx["may_import"]:
            ctx["empty_action_url"], ctx["empty_action_label"] = reverse("nodes:import"), "Import nodes"
        return ctx

    @property
    def bulk_actions(self):
        actions = [("test-connection", "Test connection", False), ("probe", "Probe facts", False)]
        if self.request.user.has_perm("nodes.manage_node"):
            actions += [(a, f"Power {a.replace('-', ' ')}" if a == "on" else DESTRUCTIVE_ACTIONS[a][0], a != "on")
                        for a in POWER_ACTIONS]
        return actions


class NodeDetailView(LoginRequiredMixin, DetailView):
    template_name = "nodes/node_detail.html"
    context_object_name = "node"

    def get_queryset(self):
        return services.visible_nodes(self.request.user).prefetch_related("host_keys")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        node, user = self.object, self.request.user
        ctx["may_use"] = can(user, node, "use")
        ctx["may_manage"] = can(user, node, "manage")
        ctx["power_actions"] = POWER_ACTIONS
        ctx["events"] = node.events.all()[:20]
        ctx["jobs"] = jobs.visible_jobs(user).filter(target_type=content_type_for(Node),
                                                     target_id=str(node.pk))[:10]
        return ctx


# What each destructive power action does, said on the confirmation page before anything happens.
DESTRUCTIVE_ACTIONS = {
    "graceful-shutdown": ("Shut down", "asks the operating system to shut down through the BMC; "
                                       "running work stops and the machine powers off"),
    "off": ("Power off", "cuts the power at once, like pulling the plug; the operating system does not "
                         "shut down and unsaved data is lost"),
    "reset": ("Reset", "restarts the machine at once; the operating system does not shut down"),
    "cycle": ("Power cycle", "turns the power off and on again; the operating system does not shut down"),
}
BULK_KINDS = {"test-connection": "nodes.test_connection", "probe": "nodes.probe"}
CONFIRM_FIELD = "confirm"


class NodeActionView(LoginRequiredMixin, View):
    """Targets of the node page's and the list's action buttons; they start jobs.

    A destructive power action never acts on the first request: GET, or a POST without
    `confirm=yes`, answers the confirmation page that names the action and the node(s)."""

    def get(self, request, pk=None):
        action = request.GET.get("action", "")
        if pk is not None:
            get_object_or_404(services.visible_nodes(request.user), pk=pk)  # existence not revealed
        if action not in DESTRUCTIVE_ACTIONS:
            return self._back(request, pk)
        return self._confirm_or_refuse(request, pk, action, request.GET)

    def post(self, request, pk=None):
        action = request.POST.get("action", "")
        if action in DESTRUCTIVE_ACTIONS and request.POST.get(CONFIRM_FIELD) != "yes":
            return self._confirm_or_refuse(request, pk, action, request.POST)
        try:
            if pk is None:
                started = self._bulk_action(request, action, self._selected(request, request.POST))
                if len(started) != 1:
                    messages.success(request, f"Started {len(started)} jobs.")
                    return redirect("jobs:list")
                job = started[0]
            else:
                node = get_object_or_404(services.visible_nodes(request.user), pk=pk)
                job = self._node_action(request, node, action)
                if job is None:
                    return redirect("nodes:detail", pk=node.pk)
        except ServiceError as exc:
            report_service_error(request, exc)
            return self._back(request, pk)
        return redirect("jobs:detail", pk=job.pk)

    def _back(self, request, pk):
        return redirect_next(request, "nodes:detail", pk=pk) if pk else redirect_next(request, "nodes:list")

    def _selected(self, request, data) -> list[Node]:
        # Rows of the list post their primary keys (`pk`); older forms and scripts post names (`nodes`).
        pks = [pk for pk in data.getlist("pk") if pk.isdigit()]
        names = data.getlist("nodes")
        if not pks and not names:
            raise InvalidInput({"nodes": ["Select at least one node."]})
        wanted = Q(pk__in=pks) | Q(name__in=names)
        nodes = list(services.visible_nodes(request.user).filter(wanted).select_related("bmc"))
        if not nodes:
            raise InvalidInput({"nodes": ["None of the selected nodes exists or is visible to you."]})
        return nodes

    def _confirm_or_refuse(self, request, pk, action, data):
        try:
            if pk is None:
                nodes = self._selected(request, data)
            else:
                nodes = [get_object_or_404(services.visible_nodes(request.user).select_related("bmc"), pk=pk)]
            refused = [n.name for n in nodes if not can(request.user, n, "manage")]
            if refused:
                raise Forbidden(f"You may not change the power of {', '.join(refused)}.")
        except ServiceError as exc:
            report_service_error(request, exc)
            return self._back(request, pk)
        label, effect = DESTRUCTIVE_ACTIONS[action]
        return render(request, "nodes/node_confirm.html", {
            "action": action, "label": label, "effect": effect, "nodes": nodes, "single": pk is not None,
            "post_url": request.path, "back_url": safe_next_url(request, "nodes:detail", pk=pk) if pk
            else safe_next_url(request, "nodes:list"), "next": data.get("next", ""),
            "without_bmc": [n.name for n in nodes if getattr(n, "bmc", None) is None],
        })

    def _bulk_action(self, request, action, nodes):
        if action in BULK_KINDS:
            return [jobs.start_job(request.user, BULK_KINDS[action], {"nodes": [n.pk for n in nodes]})]
        if action in POWER_ACTIONS:
            # One power job per node: each BMC settles on its own and is followed on its own page.
            # All or none: a node refused half-way rolls back the jobs before it (they are only
            # enqueued once the transaction commits).
            with transaction.atomic():
                return [jobs.start_job(request.user, "nodes.power", {"node": n.pk, "action": action}, target=n)
                        for n in nodes]
        raise InvalidInput({"action": ["Unknown bulk action."]})

    def _node_action(self, request, node, action):
        if action in BULK_KINDS:
            return jobs.start_job(request.user, BULK_KINDS[action], {"nodes": [node.pk]}, target=node)
        if action in POWER_ACTIONS:
            return jobs.start_job(request.user, "nodes.power", {"node": node.pk, "action": action}, target=node)
        if action in ("approve-key", "revoke-key"):
            key = get_object_or_404(HostKey, node=node, pk=request.POST.get("key"))
            services.decide_host_key(request.user, key, "trusted" if action == "approve-key" else "revoked")
            messages.success(request, f"Host key {key.fingerprint} {key.state}.")
            return None
        raise InvalidInput({"action": [f"Unknown action {action!r}."]})


class NodeImportView(LoginRequiredMixin, View):
    """The import page (also mounted in the admin). Permission is decided before the file or the
    pasted text is looked at; large files become a job and the page follows it."""

    template_name = "nodes/node_import.html"

    def get(self, request):
        if not importer.may_import(request.user):
            return self._refused(request, "You may not add nodes, so you may not import them.", 403)
        return render(request, self.template_name, {})

    def post(self, request):
        if not importer.may_import(request.user):
            return self._refused(request, "You may not add nodes, so you may not import them.", 403)
        upload = request.FILES.get("file")
        data = {"format": request.POST.get("format") or None, "content": request.POST.get("content") or None}
        data = {k: v for k, v in data.items() if v}
        if upload is not None:
            data["file"] = upload
        try:
            content, fmt = importer.read_upload(data)
            started = importer.start_import(request.user, content, fmt)
        except InvalidInput as exc:
            return render(request, self.template_name, {"errors": exc.errors, "content": data.get("content", "")},
                          status=400)
        except ServiceError as exc:
            return self._refused(request, exc.message, exc.status)
        if started.job is not None:
            messages.info(request, f"Importing {started.job.params['rows']} nodes in job {started.job.pk}.")
            return redirect("jobs:detail", pk=started.job.pk)
        messages.success(request, f"Imported {len(started.created)} node(s).")
        return redirect("nodes:list")

    def _refused(self, request, message, status):
        return render(request, self.template_name, {"errors": {"detail": [message]}}, status=status)
