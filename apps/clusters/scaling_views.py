"""Scaling pages (Salt): the cluster's scaling page (check the minions of chosen nodes, scale them
in), and scale down with a confirmation. Same services as the API (apps/clusters/scaling.py)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from apps.core.errors import Forbidden, InvalidInput, ServiceError
from apps.core.page_messages import report_service_error
from apps.keyvault.models import SecretKind
from apps.keyvault.services import visible_secrets
from apps.nodes.models import Node
from apps.nodes.salt_models import SaltKeyState
from apps.rbac.permissions import restrict

from . import scaling, services


def _may_scale(user, cluster) -> str:
    """'' when the user may scale the cluster, else why not (shown on the page)."""
    try:
        scaling.check_may_scale(user, cluster)
    except InvalidInput as exc:
        return " ".join(m for ms in exc.errors.values() for m in ms)
    except Forbidden as exc:
        return exc.message
    return ""


class ScalingView(LoginRequiredMixin, View):
    """GET: the forms. POST action=check: the per-node readiness table; action=scale: start the job."""

    template_name = "clusters/scaling/scaling.html"

    def cluster(self, pk):
        return get_object_or_404(services.visible_clusters(self.request.user), pk=pk)

    def context(self, cluster, **extra):
        user = self.request.user
        refused = _may_scale(user, cluster)
        candidates = []
        secrets = []
        if not refused:
            candidates = list(restrict(Node.objects.filter(cluster_member__isnull=True, salt_minion__isnull=False)
                                       .select_related("salt_minion"), user, "use").order_by("name")[:500])
            secrets = list(visible_secrets(user).filter(kind=SecretKind.MUNGE_KEY).order_by("name")[:100])
        return {"cluster": cluster, "refused": refused, "candidates": candidates, "secrets": secrets,
                "accepted": SaltKeyState.ACCEPTED, "partitions": list(cluster.partitions.filter(managed=True)),
                "members": list(cluster.members.order_by("slurm_name")), "chosen": [], **extra}

    def get(self, request, pk):
        cluster = self.cluster(pk)
        return render(request, self.template_name, self.context(cluster))

    def post(self, request, pk):
        cluster = self.cluster(pk)
        names = request.POST.getlist("nodes")
        action = request.POST.get("action")
        try:
            if action == "check":
                rows = scaling.check_salt(request.user, cluster, names)
                return render(request, self.template_name, self.context(cluster, checked=rows, chosen=names))
            job = scaling.start_scale(request.user, cluster, names, munge_key=request.POST.get("munge_key") or None,
                                      partitions=request.POST.getlist("partitions") or None)
        except ServiceError as exc:
            report_service_error(request, exc)
            return redirect(reverse("clusters:scaling", args=[cluster.pk]))
        messages.success(request, f"Scaling {len(names)} node(s) into {cluster}: job #{job.pk}.")
        return redirect(reverse("jobs:detail", args=[job.pk]))


class ScaleDownView(LoginRequiredMixin, View):
    """POST nodes=<slurm name>..., reason, drain_timeout, force: a confirmation first (confirm=yes starts it)."""

    http_method_names = ["post"]

    def post(self, request, pk):
        cluster = get_object_or_404(services.visible_clusters(request.user), pk=pk)
        names = request.POST.getlist("nodes")
        back = reverse("clusters:scaling", args=[cluster.pk])
        try:
            scaling.check_may_scale(request.user, cluster)
            timeout = request.POST.get("drain_timeout") or scaling.DRAIN_WAIT_DEFAULT_S
            try:
                timeout = int(timeout)
            except ValueError:
                raise InvalidInput({"drain_timeout": ["Seconds, a whole number."]}) from None
            force = request.POST.get("force") in ("on", "true", "1", "yes")
            if request.POST.get("confirm") != "yes":
                members = scaling.node_states.members_named(cluster, names)
                return render(request, "clusters/scaling/scale_down_confirm.html", {
                    "page_title": f"Scale {len(members)} node(s) out of {cluster}?", "objects": members,
                    "consequence": ("The nodes are drained, their running jobs get "
                                    f"{timeout} s to finish{' (then they are removed anyway)' if force else ''}, "
                                    "they leave the configuration (slurmctld restarts) and slurmd stops."),
                    "danger": True, "confirm_label": "Scale down", "cancel_url": back,
                    "hidden_fields": [("nodes", n) for n in names] + [("drain_timeout", timeout)]
                    + ([("force", "on")] if force else []),
                    "reason": request.POST.get("reason", "")})
            job = scaling.start_scale_down(request.user, cluster, names, reason=request.POST.get("reason", ""),
                                           drain_timeout=timeout, force=force)
        except ServiceError as exc:
            report_service_error(request, exc)
            return redirect(back)
        messages.success(request, f"Scaling {len(names)} node(s) out of {cluster}: job #{job.pk}.")
        return redirect(reverse("jobs:detail", args=[job.pk]))
