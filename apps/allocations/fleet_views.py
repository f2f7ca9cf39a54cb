"""Pages: the usage report (/allocations/usage/, CSV with ?export=csv) and the fleet timeline
(/allocations/timeline/). Both read only what services.visible_allocations lets the user see;
the API's usage endpoint calls the same `usage_for`."""
from __future__ import annotations

import csv

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpResponse
from django.views.generic import TemplateView

from apps.core.errors import InvalidInput

from . import services, timeline, usage
from .models import AllocationBinding


def _project_choices(allocations) -> list[tuple[int, str]]:
    return list(allocations.order_by("project__name").values_list("project_id", "project__name").distinct())


def _project_filter(allocations, value: str):
    """Narrow to one project given by id or name; InvalidInput naming `project` if unknown."""
    if not value:
        return allocations, None
    match = [(pk, name) for pk, name in _project_choices(allocations) if str(pk) == value or name == value]
    if not match:
        raise InvalidInput({"project": [f"No allocations of a project {value[:60]!r} that you may see."]})
    return allocations.filter(project_id=match[0][0]), match[0]


def usage_for(user, *, project: str = "", month: str = "") -> dict:
    allocations = services.visible_allocations(user)
    month = month or usage.this_month()
    usage.month_window(month)  # validates first: the field named is `month`
    allocations, _ = _project_filter(allocations, project)
    return usage.report(allocations, month)


def fleet_context(allocation) -> dict:
    """What the allocation page shows of its fleet bindings and usage."""
    return {"bindings": list(AllocationBinding.objects.filter(allocation=allocation).select_related("cluster", "node")),
            "usage": usage.of_allocation(allocation)}


class UsageView(LoginRequiredMixin, TemplateView):
    template_name = "allocations/usage.html"

    def get(self, request, *args, **kwargs):
        project, month = request.GET.get("project", ""), request.GET.get("month", "") or usage.this_month()
        errors, data = {}, {"projects": [], "month": month, "definition": usage.DEFINITION}
        try:
            data = usage_for(request.user, project=project, month=month)
        except InvalidInput as exc:
            errors = exc.errors
        if request.GET.get("export") == "csv" and not errors:
            answer = HttpResponse(content_type="text/csv")
            answer["Content-Disposition"] = f'attachment; filename="allocation-usage-{month}.csv"'
            writer = csv.writer(answer)
            for row in usage.csv_rows(data):
                writer.writerow(row)
            return answer
        ctx = self.get_context_data(report=data, errors=errors, project=project, month=month,
                                    projects=_project_choices(services.visible_allocations(request.user)),
                                    csv_query=request.GET.urlencode())
        return self.render_to_response(ctx)


class TimelineView(LoginRequiredMixin, TemplateView):
    template_name = "allocations/timeline.html"

    def get_context_data(self, **kwargs):
        from apps.clusters.services import visible_clusters

        ctx = super().get_context_data(**kwargs)
        q = self.request.GET
        user = self.request.user
        allocations = services.visible_allocations(user)
        errors, chart = {}, None
        clusters = list(visible_clusters(user).order_by("name").values_list("pk", "name"))
        cluster = q.get("cluster", "")
        try:
            start, end = timeline.window(q.get("start"), q.get("days"))
            if cluster and not any(str(pk) == cluster for pk, _ in clusters):
                raise InvalidInput({"cluster": ["Choose a cluster from the list."]})
            narrowed, chosen = _project_filter(allocations, q.get("project", ""))
            rows = timeline.bookings(narrowed, start, end, cluster_id=int(cluster) if cluster else None,
                                     node_name=q.get("node", "").strip()[:63])
            chart = timeline.build(rows, start, end)
        except InvalidInput as exc:
            errors = exc.errors
        ctx.update(chart=chart, errors=errors, clusters=clusters, projects=_project_choices(allocations),
                   values={k: q.get(k, "") for k in ("start", "days", "cluster", "node", "project")})
        return ctx


class SshKeysView(LoginRequiredMixin, TemplateView):
    """/allocations/ssh-keys/: your SSH public keys, installed on standalone nodes while your
    allocations there are active. POST adds one (name, public_key) or removes one (delete=<id>)."""

    template_name = "allocations/ssh_keys.html"
    http_method_names = ["get", "post"]

    def get_context_data(self, **kwargs):
        from . import ssh_keys

        ctx = super().get_context_data(**kwargs)
        ctx.setdefault("errors", {})
        ctx.setdefault("values", {})
        ctx.update(keys=list(ssh_keys.user_keys(self.request.user)), key_types=", ".join(ssh_keys.KEY_TYPES))
        return ctx

    def post(self, request, *args, **kwargs):
        from django.contrib import messages
        from django.shortcuts import redirect

        from . import ssh_keys

        data = request.POST
        try:
            if "delete" in data:
                ssh_keys.remove_key(request.user, data.get("delete", ""))
                messages.success(request, "Key removed; allocations that start from now on no longer install it.")
            else:
                key = ssh_keys.add_key(request.user, name=data.get("name", ""), public_key=data.get("public_key", ""))
                messages.success(request, f"Added key {key.name} ({key.fingerprint}).")
        except InvalidInput as exc:
            return self.render_to_response(self.get_context_data(errors=exc.errors, values=data), status=400)
        return redirect("allocations:ssh_keys")
