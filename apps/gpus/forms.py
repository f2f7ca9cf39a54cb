"""The GPU page's form: labels and the operator's health (maintenance with a reason, or back to ok).
It only shapes input; apps.gpus.services.update_gpu checks permission, validates and audits."""
from __future__ import annotations

from django import forms

from apps.nodes.forms import TagsField

from .models import Gpu, GpuHealth
from .services import OPERATOR_HEALTH


class GpuForm(forms.Form):
    labels = TagsField(label="Labels", help_text="Tags separated by commas or spaces, e.g. <code>nvlink spare</code>.")
    health = forms.ChoiceField(label="Health", help_text="Maintenance takes the GPU out of service until set back "
                                                         "to OK; degraded and failed come from the health rules.")
    health_reason = forms.CharField(label="Reason", max_length=300, required=False,
                                    help_text="Why the GPU goes into maintenance (shown with its health).")

    def __init__(self, *args, gpu: Gpu, **kwargs):
        kwargs.setdefault("initial", {"labels": gpu.labels, "health": gpu.health, "health_reason": gpu.health_reason})
        super().__init__(*args, **kwargs)
        self.gpu = gpu
        choices = [(h.value, h.label) for h in GpuHealth if h in OPERATOR_HEALTH or h == gpu.health]
        self.fields["health"].choices = choices
        for name, field in self.fields.items():
            field.widget.attrs.setdefault("class", "form-select" if name == "health" else "form-control")

    def changes(self) -> dict:
        """Only what differs from the GPU: an unchanged form changes (and audits) nothing."""
        data, gpu = self.cleaned_data, self.gpu
        changes = {}
        if data["labels"] != list(gpu.labels or []):
            changes["labels"] = data["labels"]
        if data["health"] != gpu.health or data["health_reason"].strip() != gpu.health_reason:
            changes["health"] = data["health"]
            changes["health_reason"] = data["health_reason"]
        return changes
