"""Pages: node list with bulk actions, node detail, import. Changes go through services/jobs."""
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.urls import reverse, reverse_lazy
from django.views.generic import DetailView

from apps.core.audit import change_log
from apps.core.errors import Conflict, Forbidden, InvalidInput, ServiceError
from apps.core.list_views import KitListView, detail_tab
from apps.core.page_messages import report_service_error
from apps.core.redirects import redirect_next, safe_next_url
from apps.jobs import services as jobs
from apps.core.contenttypes import content_type_for
from apps.rbac.page_views import CONFIRM_FIELD, MAX_SELECTED, BulkAction, KitBulkView, add_service_errors
from apps.rbac.permissions import can

from . import importer, salt_install_job, services
from .forms import ImportForm
from .filters import NodeFilter
from .models import HostKey, Node
from .tables import NodeTable

POWER_ACTIONS = ["on", "graceful-shutdown", "off", "reset", "cycle"]
COMMIT_STEP = "commit"  # the import form's second step; without it a POST only previews


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
        # Who may import may add nodes (in some project, or anywhere as an operator).
        ctx["may_add"] = ctx["may_import"] = importer.may_import(user)
        if ctx["may_import"]:
            ctx["empty_action_url"], ctx["empty_action_label"] = reverse("nodes:import"), "Import nodes"
        return ctx

    @property
    def bulk_actions(self):
        actions = [("test-connection", "Test connection", False), ("probe", "Probe facts", False)]
        if self.request.user.has_perm("nodes.manage_node"):
            actions += [(a, f"Power {a.replace('-', ' ')}" if a == "on" else DESTRUCTIVE_ACTIONS[a][0], a != "on")
                        for a in POWER_ACTIONS]
        if salt_install_job.may_install(self.request.user):
            actions.append(("salt-install", "Install Salt minions", False))
        if self.request.user.has_perm("nodes.delete_node"):
            actions.append(("delete", "Delete", True))
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
        ctx["may_change"] = can(user, node, "change")
        ctx["may_delete"] = can(user, node, "delete")
        ctx["power_actions"] = POWER_ACTIONS
        ctx["events"] = node.events.all()[:20]
        ctx["jobs"] = jobs.visible_jobs(user).filter(target_type=content_type_for(Node),
                                                     target_id=str(node.pk))[:10]
        ctx["changes"] = change_log(user, node)
        ctx["active_tab"] = detail_tab(self.request)
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
BULK_JOBS = {"test-connection": ("Test connection", BULK_KINDS["test-connection"]),
             "probe": ("Probe facts", BULK_KINDS["probe"])}
DELETE_CONSEQUENCE = ("The nodes are removed with their host keys, BMC settings and events; their jobs and "
                      "audit entries stay. Nothing is done on the machines. This cannot be undone.")


class NodeActionView(LoginRequiredMixin, View):
    """Targets of the node page's action buttons; they start jobs (the list's bulk bar posts to
    NodeBulkView). A destructive power action never acts on the first request: GET, or a POST
    without `confirm=yes`, answers the confirmation page that names the action and the node."""

    def get(self, request, pk):
        get_object_or_404(services.visible_nodes(request.user), pk=pk)  # existence not revealed
        action = request.GET.get("action", "")
        if action not in DESTRUCTIVE_ACTIONS:
            return self._back(request, pk)
        return self._confirm_or_refuse(request, pk, action, request.GET)

    def post(self, request, pk):
        action = request.POST.get("action", "")
        if action in DESTRUCTIVE_ACTIONS and request.POST.get(CONFIRM_FIELD) != "yes":
            return self._confirm_or_refuse(request, pk, action, request.POST)
        node = get_object_or_404(services.visible_nodes(request.user), pk=pk)
        try:
            job = self._node_action(request, node, action)
        except ServiceError as exc:
            report_service_error(request, exc)
            return self._back(request, pk)
        if job is None:
            return redirect("nodes:detail", pk=node.pk)
        return redirect("jobs:detail", pk=job.pk)

    def _back(self, request, pk):
        return redirect_next(request, "nodes:detail", pk=pk)

    def _confirm_or_refuse(self, request, pk, action, data):
        node = get_object_or_404(services.visible_nodes(request.user).select_related("bmc"), pk=pk)
        try:
            check_may_manage(request.user, [node])
        except ServiceError as exc:
            report_service_error(request, exc)
            return self._back(request, pk)
        label, effect = DESTRUCTIVE_ACTIONS[action]
        return render(request, "nodes/node_confirm.html", {
            "action": action, "label": label, "effect": effect, "nodes": [node], "single": True,
            "post_url": request.path, "back_url": safe_next_url(request, "nodes:detail", pk=pk),
            "next": data.get("next", ""), "without_bmc": [] if services.has_bmc(node) else [node.name],
        })

    def _node_action(self, request, node, action):
        if action in BULK_KINDS:
            return jobs.start_job(request.user, BULK_KINDS[action], {"nodes": [node.pk]}, target=node)
        if action in POWER_ACTIONS:
            return services.start_power_jobs(request.user, [node], action)[0]
        if action in ("approve-key", "revoke-key"):
            key = get_object_or_404(HostKey, node=node, pk=request.POST.get("key"))
            services.decide_host_key(request.user, key, "trusted" if action == "approve-key" else "revoked")
            messages.success(request, f"Host key {key.fingerprint} {key.state}.")
            return None
        raise InvalidInput({"action": [f"Unknown action {action!r}."]})


def check_may_manage(user, nodes) -> None:
    refused = [n.name for n in nodes if not can(user, n, "manage")]
    if refused:
        raise Forbidden(f"You may not change the power of {', '.join(refused)}.")


def check_may_delete(user, nodes) -> None:
    refused = [n.name for n in nodes if not can(user, n, "delete")]
    if refused:
        raise Forbidden(f"You may not delete {', '.join(refused)}.")
    blocked = [f"{n.name} (used by {', '.join(b)})" for n in nodes if (b := services.deletion_effects(n)["blockers"])]
    if blocked:
        raise Conflict(f"Cannot delete {'; '.join(blocked)}: remove them from there first.")


def _jobs_started(request, started):
    if len(started) == 1:
        return redirect("jobs:detail", pk=started[0].pk)
    messages.success(request, f"Started {len(started)} jobs.")
    return redirect("jobs:list")


class NodeBulkView(KitBulkView):
    """The node list's bulk bar: one connection test or probe job for all the selected nodes, one
    power job per node (destructive ones confirm first, listing the nodes), delete (confirms)."""

    http_method_names = ["get", "post"]
    list_url = "nodes:list"
    noun = "node"
    confirm_template_name = "nodes/node_bulk_confirm.html"

    def visible_queryset(self):
        return services.visible_nodes(self.request.user)

    def get(self, request):
        return redirect_next(request, "nodes:list")  # nothing happens on a GET

    def post(self, request):
        # Scripts and older forms name the nodes (`nodes`); the list's rows post primary keys.
        names = request.POST.getlist("nodes")
        if names and not request.POST.getlist("pk"):
            data = request.POST.copy()
            data.setlist("pk", [str(pk) for pk in self.visible_queryset().filter(
                name__in=names[:MAX_SELECTED]).values_list("pk", flat=True)])
            request.POST = data
        return super().post(request)

    @property
    def actions(self):
        actions = {name: BulkAction(label, self._start_for_all(kind))
                   for name, (label, kind) in BULK_JOBS.items()}
        for power in POWER_ACTIONS:
            label, effect = DESTRUCTIVE_ACTIONS.get(power, ("Power on", ""))
            actions[power] = BulkAction(label, self._power(power), consequence=f"{label} {effect}.",
                                        destructive=power in DESTRUCTIVE_ACTIONS, check=check_may_manage)
        actions["delete"] = BulkAction("Delete", self._delete, destructive=True, check=check_may_delete,
                                       consequence=DELETE_CONSEQUENCE)
        actions["salt-install"] = BulkAction("Install Salt minions", self._salt_install)
        return actions

    def confirm_context(self, name, action, objects):
        if name not in POWER_ACTIONS:
            return {}
        return {"effect": DESTRUCTIVE_ACTIONS[name][1],
                "without_bmc": [n.name for n in objects if not services.has_bmc(n)]}

    def _start_for_all(self, kind):
        def run(user, nodes):
            return _jobs_started(self.request, [jobs.start_job(user, kind, {"nodes": [n.pk for n in nodes]})])
        return run

    def _power(self, action):
        def run(user, nodes):
            return _jobs_started(self.request, services.start_power_jobs(user, nodes, action))
        return run

    def _salt_install(self, user, nodes):
        """To the batch install page with these nodes chosen (its options, then Install)."""
        return redirect(f"{reverse('nodes:salt-install')}?{urlencode([('nodes', n.pk) for n in nodes])}")

    def _delete(self, user, nodes):
        count = services.delete_nodes(user, nodes)
        return f"Deleted {count} node{'s' if count != 1 else ''}: {', '.join(n.name for n in nodes)}."


class NodeImportView(LoginRequiredMixin, View):
    """The import page (also mounted in the admin). Permission is decided before the file or the
    pasted text is looked at. A first POST previews (writes nothing); `step=commit` imports
    through importer.start_import, and large files become a job the page follows."""

    template_name = "nodes/node_import.html"
    REFUSED = "You may not add nodes, so you may not import them."

    def get(self, request):
        if not importer.may_import(request.user):
            return self._refused(request, self.REFUSED, 403)
        return render(request, self.template_name, {"form": ImportForm()})

    def post(self, request):
        if not importer.may_import(request.user):
            return self._refused(request, self.REFUSED, 403)
        form = ImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return render(request, self.template_name, {"form": form}, status=400)
        try:
            content, fmt = importer.read_upload(form.upload())
            if request.POST.get("step") != COMMIT_STEP:
                preview = importer.preview(request.user, content, fmt)
                return render(request, self.template_name, {
                    "form": form, "preview": preview, "content": content, "format": fmt,
                    "commit_step": COMMIT_STEP}, status=400 if preview.refused else 200)
            started = importer.start_import(request.user, content, fmt)
        except InvalidInput as exc:
            add_service_errors(form, exc)
            rows = exc.errors.get("rows") if isinstance(exc.errors.get("rows"), list) else None
            return render(request, self.template_name, {"form": form, "row_errors": rows}, status=400)
        except ServiceError as exc:
            return self._refused(request, exc.message, exc.status)
        if started.job is not None:
            messages.info(request, f"Importing {started.job.params['rows']} nodes in job {started.job.pk}.")
            return redirect("jobs:detail", pk=started.job.pk)
        messages.success(request, f"Imported {len(started.created)} node(s).")
        return redirect("nodes:list")

    def _refused(self, request, message, status):
        return render(request, self.template_name, {"refused": message}, status=status)
