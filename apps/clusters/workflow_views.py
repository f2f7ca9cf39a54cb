"""Workflow pages: start a deploy or a cleanup (a confirmation first: it powers the node off) and
see the recent runs; each run is followed on its job page (steps streamed live)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from apps.core.errors import InvalidInput, ServiceError
from apps.core.page_messages import report_service_error
from apps.keyvault.models import SecretKind
from apps.keyvault.services import visible_secrets
from apps.nodes.services import visible_nodes

from . import scaling, services, workflows
from .api.workflows import lookup
from .models import ClusterKind

RECENT = 50


class WorkflowsView(LoginRequiredMixin, View):
    template_name = "clusters/workflows/workflows.html"

    def get(self, request):
        user = request.user
        clusters = services.visible_clusters(user).filter(kind=ClusterKind.MANAGED, reuse_config=False).order_by("name")
        runs = workflows.visible_workflows(user).select_related("requester").order_by("-id")[:RECENT]
        return render(request, self.template_name, {
            "clusters": list(clusters[:200]), "nodes": list(visible_nodes(user).order_by("name")[:500]),
            "secrets": list(visible_secrets(user).filter(kind=SecretKind.MUNGE_KEY).order_by("name")[:100]),
            "runs": list(runs), "drain_default": scaling.DRAIN_WAIT_DEFAULT_S})


def _target(request):
    return lookup(request.user, {"cluster": request.POST.get("cluster", ""), "node": request.POST.get("node", "")})


class DeployStartView(LoginRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request):
        try:
            cluster, node = _target(request)
            job = workflows.start_deploy(request.user, cluster, node, pxe=request.POST.get("pxe") == "on",
                                         fingerprint=request.POST.get("fingerprint", ""),
                                         munge_key=request.POST.get("munge_key") or None,
                                         partitions=request.POST.getlist("partitions") or None,
                                         install_minion=request.POST.get("install_minion") == "on",
                                         minion_id=request.POST.get("minion_id", "").strip(),
                                         portal_url=request.build_absolute_uri("/"))
        except ServiceError as exc:
            report_service_error(request, exc)
            return redirect(reverse("clusters:workflows"))
        messages.success(request, f"Deploying {node} into {cluster}: job #{job.pk}.")
        return redirect(reverse("jobs:detail", args=[job.pk]))


class CleanupStartView(LoginRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request):
        back = reverse("clusters:workflows")
        try:
            cluster, node = _target(request)
            try:
                timeout = int(request.POST.get("drain_timeout") or scaling.DRAIN_WAIT_DEFAULT_S)
            except ValueError:
                raise InvalidInput({"drain_timeout": ["Seconds, a whole number."]}) from None
            force = request.POST.get("force") == "on"
            power_off = request.POST.get("power_off", "on") == "on"
            if request.POST.get("confirm") != "yes":
                workflows._check(request.user, cluster, node)
                return render(request, "clusters/scaling/scale_down_confirm.html", {
                    "page_title": f"Clean {node} out of {cluster}?", "objects": [node],
                    "consequence": (f"{node} is drained (running jobs get {timeout} s), removed from {cluster}'s "
                                    f"configuration, its slurmd stopped{', and it is powered off' if power_off else ''}."),
                    "danger": True, "confirm_label": "Clean up", "cancel_url": back,
                    "hidden_fields": [("cluster", cluster.pk), ("node", node.pk), ("drain_timeout", timeout),
                                      ("power_off", "on" if power_off else "off")] + ([("force", "on")] if force else []),
                    "reason": request.POST.get("reason", "")})
            job = workflows.start_cleanup(request.user, cluster, node, reason=request.POST.get("reason", ""),
                                          drain_timeout=timeout, force=force, power_off=power_off)
        except ServiceError as exc:
            report_service_error(request, exc)
            return redirect(back)
        messages.success(request, f"Cleaning {node} out of {cluster}: job #{job.pk}.")
        return redirect(reverse("jobs:detail", args=[job.pk]))
