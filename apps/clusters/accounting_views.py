"""Accounting pages of a cluster (as Slurm-web shows them, plus the portal's side): project
accounts with their limits and drift, associations and QOS live from sacctmgr, the dry run with
its sacctmgr commands and a confirmed apply, the drift check, and the project account form.
Every change goes through apps/clusters/accounting_sync.py, as the API's does."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from apps.core.errors import ServiceError
from apps.core.page_messages import report_service_error
from apps.nodes.forms import _styled
from apps.rbac.models import Project
from apps.rbac.page_views import KitConfirmView, KitDeleteView, KitFormView
from apps.rbac.permissions import can, restrict

from . import accounting_sync, services
from .models import ProjectAccount
from .validators import validate_slurm_name


def _cluster(request, pk):
    return get_object_or_404(services.visible_clusters(request.user), pk=pk)


def _names(text: str) -> list[str]:
    return [n for n in text.replace(",", " ").split() if n]


class AccountingView(LoginRequiredMixin, TemplateView):
    """/clusters/<pk>/accounting/: project accounts (limits, drift), associations and QOS."""

    template_name = "clusters/accounting/accounting.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        cluster = _cluster(self.request, self.kwargs["pk"])
        user = self.request.user
        associations, qos = accounting_sync.live_both(user, cluster)
        ctx.update(cluster=cluster, page_title=f"Accounting of {cluster.name}",
                   accounts=list(cluster.accounts.select_related("project").order_by("account")),
                   may_manage=user.has_perm("clusters.manage_cluster") and can(user, cluster, "manage"),
                   associations=associations, qos=qos)
        return ctx


class AccountForm(forms.ModelForm):
    allowed_partitions = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                                   help_text="None ticked: every partition.")
    allowed_qos = forms.CharField(required=False, max_length=500, label="Allowed QOS",
                                  help_text="QOS names separated by commas or spaces; the first is the default. "
                                            "Empty: the cluster's default.")

    class Meta:
        model = ProjectAccount
        fields = ["project", "account", "gpus_per_job", "gpu_minutes", "max_running_jobs_per_user", "max_wall_min"]
        labels = {"gpus_per_job": "GPUs per job", "gpu_minutes": "GPU-minutes budget",
                  "max_running_jobs_per_user": "Running jobs per user", "max_wall_min": "Max walltime (minutes)"}
        help_texts = {"account": "The Slurm account (lower case: sacctmgr stores it so).",
                      "gpus_per_job": "MaxTRES gres/gpu: a job asking for more is refused by Slurm.",
                      "gpu_minutes": "GrpTRESMins gres/gpu: the account's budget.",
                      "max_running_jobs_per_user": "MaxJobs of each user in the account.",
                      "max_wall_min": "MaxWall."}

    def __init__(self, *args, cluster, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = restrict(Project.objects.all(), user, "view").order_by("name")
        if self.instance.pk:
            self.fields["project"].disabled = True
            self.initial["allowed_qos"] = ", ".join(self.instance.allowed_qos or [])
        self.fields["allowed_partitions"].choices = [(p, p) for p in cluster.partitions.values_list("name", flat=True)]
        _styled(self)
        self.fields["allowed_partitions"].widget.attrs["class"] = "form-check-input"

    def clean_allowed_qos(self):
        names = _names(self.cleaned_data.get("allowed_qos") or "")
        for name in names:
            try:
                validate_slurm_name(name)
            except forms.ValidationError:
                raise forms.ValidationError(f"{name[:40]!r} is not a QOS name.") from None
        return names

    def values(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("project", None)
        return data


class AccountCreateView(KitFormView):
    template_name = "kit/form_page.html"
    submit_label = "Add account"
    success_message = "Added {obj}; apply to write it into Slurm."
    form_class = AccountForm

    def dispatch(self, request, *args, **kwargs):
        cluster_pk = kwargs.pop("pk")  # the cluster's, not an account's: this form creates
        if request.user.is_authenticated:
            self.cluster = _cluster(request, cluster_pk)
            try:
                accounting_sync.check_may_manage(request.user, self.cluster)
            except ServiceError as exc:
                raise PermissionDenied(exc.message) from None
        return super().dispatch(request, *args, **kwargs)

    def may_create(self) -> bool:
        return True  # the service refuses who may not manage the cluster

    @property
    def page_title(self):
        return f"Add a project account on {self.cluster.name}"

    def form_kwargs(self):
        return {"cluster": self.cluster, "user": self.request.user}

    def save(self, form):
        return accounting_sync.create_account(self.request.user, self.cluster, project=form.cleaned_data["project"],
                                              **form.values())

    @property
    def cancel_url(self):
        return reverse("clusters:accounting", args=[self.cluster.pk])

    def get_success_url(self, obj=None):
        return self.cancel_url


class AccountEditView(KitFormView):
    submit_label = "Save limits"
    success_message = "Saved {obj}; apply to write it into Slurm."
    form_class = AccountForm
    page_title = "Limits of {obj}"

    def get_object(self):
        visible = services.visible_clusters(self.request.user)
        obj = get_object_or_404(ProjectAccount.objects.select_related("cluster", "project")
                                .filter(cluster__in=visible), pk=self.kwargs["pk"])
        accounting_sync.check_may_manage(self.request.user, obj.cluster)
        return obj

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        except ServiceError as exc:
            raise PermissionDenied(exc.message) from None

    def form_kwargs(self):
        return {"cluster": self.object.cluster, "user": self.request.user, "instance": self.object}

    def save(self, form):
        fresh = ProjectAccount.objects.select_related("cluster", "project").get(pk=self.object.pk)
        return accounting_sync.update_account(self.request.user, fresh, **form.values())

    @property
    def cancel_url(self):
        return reverse("clusters:accounting", args=[self.object.cluster_id])

    def get_success_url(self, obj=None):
        return self.cancel_url


class AccountDeleteView(KitDeleteView):
    def visible_queryset(self):
        return ProjectAccount.objects.select_related("cluster", "project").filter(
            cluster__in=services.visible_clusters(self.request.user))

    def get_object(self):
        obj = get_object_or_404(self.visible_queryset(), pk=self.kwargs["pk"])
        try:
            accounting_sync.check_may_manage(self.request.user, obj.cluster)
        except ServiceError as exc:
            raise PermissionDenied(exc.message) from None
        return obj

    def consequence(self, obj) -> str:
        return (f"The portal forgets that {obj.project} uses account {obj.account} on {obj.cluster}. Slurm keeps the "
                "account and its users: remove them there on purpose.")

    def delete(self, obj) -> None:
        accounting_sync.delete_account(self.request.user, obj)

    def done_url(self, obj) -> str:
        return reverse("clusters:accounting", args=[obj.cluster_id])

    def refused_url(self, obj) -> str:
        return self.done_url(obj)

    def confirmation(self, obj) -> dict:
        return {"page_title": f"Forget the account {obj}?", "consequence": self.consequence(obj),
                "cancel_url": self.done_url(obj), "confirm_label": "Forget"}


class AccountingApplyView(LoginRequiredMixin, KitConfirmView):
    """GET: the dry run (the sacctmgr commands, nothing runs); POST confirm=yes: the apply job."""

    template_name = "clusters/accounting/apply_confirm.html"

    def target(self):
        return _cluster(self.request, self.kwargs["pk"])

    def confirmation(self, cluster) -> dict:
        base = {"page_title": f"Apply accounting to {cluster.name}?", "cancel_url": self.done_url(cluster),
                "confirm_label": "Run these sacctmgr commands", "objects": []}
        try:
            found = accounting_sync.preview(self.request.user, cluster)
        except ServiceError as exc:
            return {**base, "refused": True, "consequence": exc.message}
        if not found["ok"]:
            return {**base, "refused": True, "consequence": f"Slurm's accounting could not be read: {found['error']}"}
        if found["in_sync"]:
            return {**base, "refused": True, "notes": found["notes"],
                    "consequence": "Slurm already matches the portal: nothing to apply."}
        return {**base, "commands": found["commands"], "notes": found["notes"],
                "consequence": f"{len(found['commands'])} sacctmgr command(s) will run on {cluster.controller}, in "
                               "this order (computed again when the job starts)."}

    def act(self, cluster) -> str:
        self.job = accounting_sync.start_apply(self.request.user, cluster)
        return f"Applying accounting to {cluster}: job #{self.job.pk}."

    def done_url(self, cluster) -> str:
        job = getattr(self, "job", None)
        return reverse("jobs:detail", args=[job.pk]) if job else reverse("clusters:accounting", args=[cluster.pk])

    def refused_url(self, cluster) -> str:
        return reverse("clusters:accounting", args=[cluster.pk])


class AccountingCheckView(LoginRequiredMixin, View):
    """POST: the drift check (a job)."""

    http_method_names = ["post"]

    def post(self, request, pk):
        cluster = _cluster(request, pk)
        try:
            job = accounting_sync.start_check(request.user, cluster)
        except ServiceError as exc:
            report_service_error(request, exc)
            return redirect(reverse("clusters:accounting", args=[cluster.pk]))
        messages.success(request, f"Checking accounting drift of {cluster}: job #{job.pk}.")
        return redirect(reverse("jobs:detail", args=[job.pk]))
