"""Forms of the Slurm job pages. They only shape input; apps.clusters.submit / job_templates
check permission, validate (naming the field) and audit."""
from __future__ import annotations

from django import forms
from django.db.models import Q

from apps.nodes.forms import _styled
from apps.rbac.permissions import project_roles_for, projects_to_act_in, restrict

from .models import Cluster, JobTemplate, ProjectAccount
from .slurm.backend import MAX_SCRIPT_BYTES

SCRIPT_HELP = ("Sent to <code>sbatch --parsable</code> on stdin as your Slurm user; never run by a shell on the "
               "portal. Start with <code>#!/bin/bash</code>; <code>#SBATCH</code> lines work as usual.")


class SubmitForm(forms.Form):
    template = forms.ModelChoiceField(queryset=JobTemplate.objects.none(), required=False,
                                      empty_label="— none —", help_text="Prefills the form below.")
    name = forms.CharField(max_length=128, required=False, help_text="Letters, digits, '_', '.', ':', '+', '@', '-'.")
    account = forms.ChoiceField(required=False, help_text="The Slurm account of the project the job is for.")
    partition = forms.ChoiceField(required=False, help_text="Empty: the cluster's default partition.")
    qos = forms.CharField(max_length=63, required=False, label="QOS")
    nodes = forms.IntegerField(min_value=1, max_value=10_000, initial=1)
    cpus = forms.IntegerField(min_value=1, max_value=100_000, initial=1, label="CPUs per task")
    memory_mb = forms.IntegerField(min_value=1, max_value=1 << 40, required=False, label="Memory per node (MiB)")
    gpus = forms.IntegerField(min_value=0, max_value=1024, initial=0, label="GPUs per node")
    time_limit_min = forms.IntegerField(min_value=1, max_value=10**7, initial=60, label="Time limit (minutes)")
    script = forms.CharField(widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false",
                                                          "class": "form-control font-monospace"}),
                             max_length=MAX_SCRIPT_BYTES, strip=False, help_text=SCRIPT_HELP,
                             initial="#!/bin/bash\necho \"host=$(hostname) gpus=$CUDA_VISIBLE_DEVICES\"\n")

    def __init__(self, *args, user, cluster: Cluster, **kwargs):
        super().__init__(*args, **kwargs)
        from .submit import visible_templates

        self.fields["template"].queryset = visible_templates(user).filter(
            Q(cluster__isnull=True) | Q(cluster=cluster)).order_by("name")
        accounts = ProjectAccount.objects.filter(cluster=cluster).select_related("project").order_by("account")
        if not (user.is_superuser or user.has_perm("rbac.unrestricted")):
            accounts = accounts.filter(project__memberships__user=user,
                                       project__memberships__role__in=project_roles_for("add"))
        accounts = list(accounts)
        self.fields["account"].choices = ([] if len(accounts) == 1 else [("", "— choose —")]) + [
            (a.account, f"{a.account} ({a.project.name})") for a in accounts]
        self.fields["partition"].choices = [("", "— default —")] + [
            (p.name, p.name) for p in cluster.partitions.order_by("-is_default", "name")]
        _styled(self)

    def request_values(self) -> dict:
        data = {k: v for k, v in self.cleaned_data.items() if k != "template"}
        return {k: v for k, v in data.items() if v not in (None, "")}


class JobTemplateForm(forms.ModelForm):
    class Meta:
        model = JobTemplate
        fields = ["name", "description", "project", "cluster", "partition", "account", "nodes", "cpus", "memory_mb",
                  "gpus", "time_limit_min", "script"]
        widgets = {"script": forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "form-control font-monospace"})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects_to_act_in(user, JobTemplate, "add").order_by("name")
        self.fields["cluster"].queryset = restrict(Cluster.objects.all(), user, "view").order_by("name")
        self.fields["script"].strip = False
        self.fields["project"].required = self.fields["cluster"].required = False
        self.fields["memory_mb"].required = False
        self.fields["memory_mb"].help_text = "Per node, MiB; empty: the partition's default."
        _styled(self)

    def service_values(self) -> dict:
        values = {name: self.cleaned_data[name] for name in self.Meta.fields}
        values["memory_mb"] = values["memory_mb"] or 0
        return values
