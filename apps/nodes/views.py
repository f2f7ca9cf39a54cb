"""Pages: node list with bulk actions, node detail, import. Changes go through services/jobs."""
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.views.generic import DetailView, ListView

from apps.core.errors import InvalidInput, ServiceError
from apps.core.list_views import FilteredListMixin
from apps.core.redirects import redirect_next
from apps.jobs import services as jobs
from apps.core.contenttypes import content_type_for
from apps.rbac.permissions import can

from . import importer, services
from .filters import NodeFilter
from .models import HostKey, Node

POWER_ACTIONS = ["on", "graceful-shutdown", "off", "reset", "cycle"]


class NodeListView(FilteredListMixin, ListView):
    template_name = "nodes/node_list.html"
    paginate_by = 100
    filterset_class = NodeFilter

    def base_queryset(self):
        return services.visible_nodes(self.request.user)


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


class NodeActionView(LoginRequiredMixin, View):
    """POST targets of the node page and the list's bulk actions; they start jobs."""

    def post(self, request, pk=None):
        action = request.POST.get("action", "")
        try:
            if pk is None:
                names = request.POST.getlist("nodes")
                if not names:
                    raise InvalidInput({"nodes": ["Select at least one node."]})
                kind = {"test-connection": "nodes.test_connection", "probe": "nodes.probe"}.get(action)
                if kind is None:
                    raise InvalidInput({"action": ["Unknown bulk action."]})
                job = jobs.start_job(request.user, kind, {"nodes": names})
            else:
                node = get_object_or_404(services.visible_nodes(request.user), pk=pk)
                job = self._node_action(request, node, action)
                if job is None:
                    return redirect("nodes:detail", pk=node.pk)
        except ServiceError as exc:
            messages.error(request, exc.message if not isinstance(exc, InvalidInput) else str(exc.errors))
            return redirect_next(request, "nodes:list")
        return redirect("jobs:detail", pk=job.pk)

    def _node_action(self, request, node, action):
        if action in ("test-connection", "probe"):
            return jobs.start_job(request.user, f"nodes.{action.replace('-', '_')}", {"nodes": [node.pk]},
                                  target=node)
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
