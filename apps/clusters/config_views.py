"""Configuration pages of managed clusters: the rendered slurm.conf / gres.conf with the diff
against the live files, a confirmed apply (a job), the partition form, adding and removing member
nodes. Every change goes through apps/clusters/managed.py and config_jobs.py, as the API's does;
who may not manage the cluster gets 403 (the files can hold secrets such as AccountingStoragePass).
"""
from __future__ import annotations

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import TemplateView

from apps.core.errors import ServiceError
from apps.nodes.forms import _styled
from apps.nodes.models import Node
from apps.rbac.page_views import KitConfirmView, KitFormView
from apps.rbac.permissions import restrict

from . import config_apply, config_jobs, managed, rendering, services
from .models import ClusterNode, Partition


def _cluster(request, pk):
    return get_object_or_404(services.visible_clusters(request.user), pk=pk)


def _managing(request, cluster):
    try:
        config_apply.check_may_manage(request.user, cluster)
    except ServiceError as exc:
        raise PermissionDenied(exc.message) from None
    return cluster


def _names(text: str) -> list[str]:
    return [n for n in (text or "").replace(",", " ").split() if n]


def config_url(cluster_pk) -> str:
    return reverse("clusters:config", args=[cluster_pk])


class ConfigView(LoginRequiredMixin, TemplateView):
    """/clusters/<pk>/config/: the files the portal renders, their diff, partitions and nodes."""

    template_name = "clusters/config/config.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        cluster = _managing(self.request, _cluster(self.request, self.kwargs["pk"]))
        try:
            preview, refused = config_apply.preview(self.request.user, cluster), ""
        except ServiceError as exc:
            preview, refused = None, "; ".join(m for msgs in getattr(exc, "errors", {"": [exc.message]}).values()
                                               for m in msgs)
        ctx.update(cluster=cluster, page_title=f"Configuration of {cluster.name}", preview=preview, refused=refused,
                   partitions=list(cluster.partitions.order_by("-is_default", "name")),
                   members=list(cluster.members.select_related("node").order_by("slurm_name")))
        return ctx


class ApplyConfigView(LoginRequiredMixin, KitConfirmView):
    """GET: the diff (nothing is written); POST confirm=yes: the apply job."""

    template_name = "clusters/config/apply_confirm.html"

    def target(self):
        return _managing(self.request, _cluster(self.request, self.kwargs["pk"]))

    def confirmation(self, cluster) -> dict:
        base = {"page_title": f"Apply the configuration of {cluster.name}?", "cancel_url": config_url(cluster.pk),
                "confirm_label": "Write and apply", "objects": []}
        try:
            found = config_apply.preview(self.request.user, cluster)
        except ServiceError as exc:
            return {**base, "refused": True, "consequence": "; ".join(
                m for msgs in getattr(exc, "errors", {"": [exc.message]}).values() for m in msgs)}
        if found.get("error"):
            return {**base, "refused": True, "consequence": found["error"]}
        if not found["changed"]:
            return {**base, "refused": True, "consequence": "The live files already match: nothing to apply."}
        how = ("slurmctld will be RESTARTED (" + "; ".join(found["restart_reasons"]) + ")"
               if found["action"] == "restart" else "`scontrol reconfigure` will apply it")
        return {**base, "preview": found,
                "consequence": f"{cluster.conf_path} and {found['gres_path']} on {cluster.controller} will be backed "
                               f"up and replaced; {how}. If Slurm does not come back healthy the backups are "
                               "restored. The diff is computed again when the job starts."}

    def act(self, cluster) -> str:
        self.job = config_jobs.start_apply(self.request.user, cluster)
        return f"Applying the configuration of {cluster}: job #{self.job.pk}."

    def done_url(self, cluster) -> str:
        job = getattr(self, "job", None)
        return reverse("jobs:detail", args=[job.pk]) if job else config_url(cluster.pk)

    def refused_url(self, cluster) -> str:
        return config_url(cluster.pk)


class PartitionForm(forms.Form):
    name = forms.CharField(max_length=63, strip=False, help_text="Letters, digits, '_', '.' or '-'.")
    nodes = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    is_default = forms.BooleanField(required=False, label="Default partition",
                                    help_text="Jobs without -p go here (the other partitions stop being the default).")
    max_time = forms.CharField(max_length=32, initial="UNLIMITED", strip=False,
                               help_text="UNLIMITED, minutes, or [days-]hours:minutes:seconds.")
    state = forms.ChoiceField(choices=[(s, s) for s in rendering.PARTITION_STATES], initial="UP")
    allow_accounts = forms.CharField(required=False, max_length=2000, label="Allowed accounts",
                                     help_text="Separated by commas or spaces; empty: all.")
    allow_qos = forms.CharField(required=False, max_length=2000, label="Allowed QOS",
                                help_text="Separated by commas or spaces; empty: all.")
    options = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3}),
                              label="Other options", help_text="One Key=Value per line, e.g. MaxNodes=2 or "
                                                               "DefMemPerGPU=16000.")

    def __init__(self, *args, cluster, **kwargs):
        super().__init__(*args, **kwargs)
        names = cluster.members.filter(managed=True).order_by("slurm_name").values_list("slurm_name", flat=True)
        self.fields["nodes"].choices = [(n, n) for n in names]
        _styled(self)
        self.fields["nodes"].widget.attrs["class"] = "form-check-input"

    def clean_options(self):
        out = {}
        for number, line in enumerate((self.cleaned_data.get("options") or "").splitlines(), 1):
            if not line.strip():
                continue
            key, sep, value = line.strip().partition("=")
            if not sep or not key:
                raise forms.ValidationError(f"Line {number}: write Key=Value.")
            out[key.strip()] = value.strip()
        return out

    def values(self) -> dict:
        data = dict(self.cleaned_data)
        data["allow_accounts"] = _names(data["allow_accounts"])
        data["allow_qos"] = _names(data["allow_qos"])
        return data

    @staticmethod
    def initial_of(p: Partition) -> dict:
        return {"name": p.name, "nodes": p.nodes, "is_default": p.is_default, "max_time": p.max_time,
                "state": p.state, "allow_accounts": ", ".join(p.allow_accounts),
                "allow_qos": ", ".join(p.allow_qos),
                "options": "\n".join(f"{k}={v}" for k, v in rendering.settable_options(p.options).items())}


class PartitionCreateView(KitFormView):
    submit_label = "Add partition"
    success_message = "Added partition {obj.name}; apply the configuration to write it into Slurm."
    form_class = PartitionForm

    def dispatch(self, request, *args, **kwargs):
        cluster_pk = kwargs.pop("pk")  # the cluster's: this form creates
        if request.user.is_authenticated:
            self.cluster = _managing(request, _cluster(request, cluster_pk))
        return super().dispatch(request, *args, **kwargs)

    def may_create(self) -> bool:
        return True  # _managing refused who may not manage the cluster

    @property
    def page_title(self):
        return f"Add a partition to {self.cluster.name}"

    def form_kwargs(self):
        return {"cluster": self.cluster}

    def save(self, form):
        return managed.create_partition(self.request.user, self.cluster, **form.values())

    @property
    def cancel_url(self):
        return config_url(self.cluster.pk)

    def get_success_url(self, obj=None):
        return self.cancel_url


class PartitionEditView(KitFormView):
    submit_label = "Save partition"
    success_message = "Saved partition {obj.name}; apply the configuration to write it into Slurm."
    form_class = PartitionForm
    page_title = "Partition {obj}"

    def get_object(self):
        visible = services.visible_clusters(self.request.user)
        obj = get_object_or_404(Partition.objects.select_related("cluster").filter(cluster__in=visible),
                                pk=self.kwargs["pk"])
        _managing(self.request, obj.cluster)
        return obj

    def form_kwargs(self):
        return {"cluster": self.object.cluster, "initial": PartitionForm.initial_of(self.object)}

    def save(self, form):
        fresh = Partition.objects.select_related("cluster").get(pk=self.object.pk)
        return managed.update_partition(self.request.user, fresh, **form.values())

    @property
    def cancel_url(self):
        return config_url(self.object.cluster_id)

    def get_success_url(self, obj=None):
        return self.cancel_url


class PartitionDeleteView(LoginRequiredMixin, KitConfirmView):
    def target(self):
        visible = services.visible_clusters(self.request.user)
        obj = get_object_or_404(Partition.objects.select_related("cluster").filter(cluster__in=visible),
                                pk=self.kwargs["pk"])
        _managing(self.request, obj.cluster)
        return obj

    def confirmation(self, obj) -> dict:
        return {"page_title": f"Remove partition {obj}?", "confirm_label": "Remove", "cancel_url": self.done_url(obj),
                "consequence": f"The PartitionName={obj.name} line goes on the next apply; its nodes stay."}

    def act(self, obj) -> str:
        managed.delete_partition(self.request.user, obj)
        return f"Removed partition {obj.name}; apply the configuration to write it into Slurm."

    def done_url(self, obj) -> str:
        return config_url(obj.cluster_id)


class AddNodeForm(forms.Form):
    node = forms.ModelChoiceField(queryset=Node.objects.none(), help_text="A portal node not in any cluster yet.")
    slurm_name = forms.CharField(required=False, max_length=63, strip=False, label="Slurm node name",
                                 help_text="Default: the node's name.")
    partitions = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    cpus = forms.IntegerField(required=False, min_value=1, max_value=100_000, label="CPUs",
                              help_text="Empty: from the node's facts (lscpu).")
    sockets = forms.IntegerField(required=False, min_value=1, max_value=1024)
    cores_per_socket = forms.IntegerField(required=False, min_value=1, max_value=4096)
    threads_per_core = forms.IntegerField(required=False, min_value=1, max_value=16)
    real_memory_mb = forms.IntegerField(required=False, min_value=0, max_value=2**40, label="Real memory (MB)",
                                        help_text="Empty: 95 % of the node's memory from its facts.")

    def __init__(self, *args, cluster, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["node"].queryset = restrict(Node.objects.filter(cluster_member__isnull=True), user,
                                                "use").order_by("name")
        names = cluster.partitions.filter(managed=True).order_by("name").values_list("name", flat=True)
        self.fields["partitions"].choices = [(n, n) for n in names]
        _styled(self)
        self.fields["partitions"].widget.attrs["class"] = "form-check-input"


class AddNodeView(KitFormView):
    submit_label = "Add node"
    success_message = "Added {obj.slurm_name}; apply the configuration (slurmctld restarts for new nodes)."
    form_class = AddNodeForm

    def dispatch(self, request, *args, **kwargs):
        cluster_pk = kwargs.pop("pk")
        if request.user.is_authenticated:
            self.cluster = _managing(request, _cluster(request, cluster_pk))
        return super().dispatch(request, *args, **kwargs)

    def may_create(self) -> bool:
        return True

    @property
    def page_title(self):
        return f"Add a node to {self.cluster.name}"

    def form_kwargs(self):
        return {"cluster": self.cluster, "user": self.request.user}

    def save(self, form):
        data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
        return managed.add_node(self.request.user, self.cluster, **data)

    @property
    def cancel_url(self):
        return config_url(self.cluster.pk)

    def get_success_url(self, obj=None):
        return self.cancel_url


class RemoveNodeView(LoginRequiredMixin, KitConfirmView):
    def target(self):
        visible = services.visible_clusters(self.request.user)
        obj = get_object_or_404(ClusterNode.objects.select_related("cluster", "node").filter(cluster__in=visible),
                                pk=self.kwargs["pk"])
        _managing(self.request, obj.cluster)
        return obj

    def confirmation(self, obj) -> dict:
        return {"page_title": f"Remove {obj.slurm_name} from {obj.cluster.name}?", "confirm_label": "Remove",
                "cancel_url": self.done_url(obj),
                "consequence": f"Exactly {obj.slurm_name} leaves the NodeName and PartitionName lines on the next "
                               "apply (slurmctld restarts); the machine and its portal node stay."}

    def act(self, obj) -> str:
        managed.remove_node(self.request.user, obj)
        return f"Removed {obj.slurm_name}; apply the configuration to write it into Slurm."

    def done_url(self, obj) -> str:
        return config_url(obj.cluster_id)
