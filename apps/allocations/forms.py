"""Page forms; the services validate again (quota, window, placement) and their refusals land
next to the field they name."""
from django import forms

from apps.clusters.models import Cluster, Partition
from apps.rbac.permissions import projects_to_act_in, restrict

from .availability import usable_nodes
from .models import Allocation
from .services import MAX_GPUS

DT_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class RequestForm(forms.Form):
    project = forms.ModelChoiceField(queryset=None)
    gpu_count = forms.IntegerField(min_value=1, max_value=MAX_GPUS, initial=1, label="GPUs")
    gpu_model = forms.CharField(max_length=200, required=False, label="GPU model contains",
                                help_text="e.g. H100; empty: any model")
    min_memory_mib = forms.IntegerField(min_value=1, required=False, label="Minimum GPU memory (MiB)")
    spread_allowed = forms.BooleanField(required=False, label="GPUs may come from several nodes")
    cluster = forms.ModelChoiceField(queryset=None, required=False)
    partition = forms.ModelChoiceField(queryset=None, required=False)
    nodes = forms.ModelMultipleChoiceField(queryset=None, required=False, help_text="Only these nodes (optional)")
    labels = forms.CharField(max_length=500, required=False, help_text="Comma-separated; every GPU must carry them")
    start = forms.DateTimeField(required=False, widget=DT_WIDGET, help_text="Empty: now (UTC)")
    end = forms.DateTimeField(required=False, widget=DT_WIDGET, help_text="Or give a duration")
    duration_hours = forms.FloatField(min_value=0.01, required=False, label="Duration (hours)")
    purpose = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects_to_act_in(user, Allocation, "add")
        self.fields["cluster"].queryset = restrict(Cluster.objects.all(), user, "view")
        self.fields["partition"].queryset = restrict(Partition.objects.select_related("cluster"), user, "view")
        self.fields["nodes"].queryset = usable_nodes(user)

    def clean_labels(self):
        return [x.strip() for x in self.cleaned_data["labels"].split(",") if x.strip()]

    def clean(self):
        data = super().clean()
        if not data.get("end") and not data.get("duration_hours"):
            self.add_error("duration_hours", "Give an end or a duration.")
        return data


class DecisionForm(forms.Form):
    comment = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ExtendForm(forms.Form):
    hours = forms.FloatField(min_value=0.01, max_value=24 * 366, label="Add hours")
