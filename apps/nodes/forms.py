"""Node forms of the pages. They only shape input: the services check permission, validate the
model, check secret destinations and write the audit entry (errors come back next to the field)."""
from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from apps.keyvault.models import Secret
from apps.rbac.permissions import may_act_in_project, projects_to_act_in, restrict

from .models import BmcDriver, Node
from .validators import validate_labels

TAG_SEPARATORS = re.compile(r"[\s,;]+")
LABELS_DATALIST = "node-labels-in-use"


def parse_tags(text: str) -> list[str]:
    """'gpu, a100 rack:3' -> ['gpu', 'a100', 'rack:3'] (a leading '#' is allowed, duplicates dropped)."""
    tags = []
    for part in TAG_SEPARATORS.split(text or ""):
        tag = part.lstrip("#")
        if tag and tag not in tags:
            tags.append(tag)
    return tags


class TagsInput(forms.TextInput):
    """A text input of tags with suggestions (a datalist of labels in use) and the tags as #badges."""

    def __init__(self, suggestions=(), attrs=None):
        super().__init__(attrs={"class": "form-control", "list": LABELS_DATALIST, "autocomplete": "off",
                                "placeholder": "gpu a100 rack:3", **(attrs or {})})
        self.suggestions = list(suggestions)

    def format_value(self, value):
        if isinstance(value, (list, tuple)):
            return " ".join(value)
        return value

    def render(self, name, value, attrs=None, renderer=None):
        field = super().render(name, value, attrs, renderer)
        options = format_html_join("", '<option value="{}">', ((s,) for s in self.suggestions))
        tags = value if isinstance(value, (list, tuple)) else parse_tags(value or "")
        badges = format_html_join(" ", '<span class="badge text-bg-secondary kit-tag">#{}</span>',
                                  ((t,) for t in tags))
        return format_html('{}<datalist id="{}">{}</datalist>'
                           '<div class="kit-tags mt-1" role="group" aria-label="Labels">{}</div>',
                           field, LABELS_DATALIST, options, badges)


class TagsField(forms.CharField):
    """Labels typed as tags, separated by commas or spaces; checked by the model's rule."""

    def __init__(self, suggestions=(), **kwargs):
        super().__init__(widget=TagsInput(suggestions), required=False, **kwargs)

    def prepare_value(self, value):
        return " ".join(value) if isinstance(value, (list, tuple)) else value

    def to_python(self, value):
        return parse_tags(super().to_python(value))

    def validate(self, value):
        validate_labels(value)


def _styled(form: forms.Form) -> None:
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs.setdefault("class", "form-check-input")
        elif isinstance(widget, forms.Select):
            widget.attrs.setdefault("class", "form-select")
        else:
            widget.attrs.setdefault("class", "form-control")


def usable_secrets(user, current: Secret | None = None):
    """Secrets the user may bind (`use`), plus the one already bound (kept unless changed)."""
    secrets = restrict(Secret.objects.all(), user, "use")
    if current is not None:
        secrets = secrets | Secret.objects.filter(pk=current.pk)
    return secrets.distinct().order_by("name")


class NodeForm(forms.ModelForm):
    labels = TagsField(label="Labels", help_text="Tags separated by commas or spaces, e.g. <code>gpu a100</code>.")

    class Meta:
        model = Node
        fields = ["name", "address", "ssh_port", "ssh_user", "ssh_credential", "project", "labels"]
        labels = {"ssh_port": "SSH port", "ssh_user": "SSH user", "ssh_credential": "SSH credential"}
        help_texts = {"address": "IP address or DNS name inside the managed networks.",
                      "ssh_credential": "A key-vault secret you may use; the node's address must lie within "
                                        "its destinations."}

    def __init__(self, *args, user, label_suggestions=(), **kwargs):
        super().__init__(*args, **kwargs)
        node = self.instance if self.instance.pk else None
        self.fields["labels"].widget.suggestions = list(label_suggestions)
        self.fields["ssh_credential"].queryset = usable_secrets(user, node.ssh_credential if node else None)
        self.fields["ssh_credential"].empty_label = "— none —"
        projects = projects_to_act_in(user, Node, "add")
        if node is not None and node.project_id:
            projects = projects | projects.model.objects.filter(pk=node.project_id)
        self.fields["project"].queryset = projects.distinct().order_by("name")
        if may_act_in_project(user, Node, None, "add"):
            self.fields["project"].empty_label = "— none (operators only) —"
        else:  # only operators place nodes outside projects: say so here, not as a refusal later
            self.fields["project"].required = True
        _styled(self)

    def _post_clean(self):
        # The service validates the model (full_clean) and reports next to the field; running
        # ModelForm's own instance validation here would check half-updated rows twice.
        pass

    def changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in self._meta.fields}


class BmcForm(forms.Form):
    """Field names as the service's errors name them (bmc_address, bmc_credential...)."""

    bmc_driver = forms.ChoiceField(label="Driver", choices=BmcDriver.choices)
    bmc_address = forms.CharField(label="Address", max_length=300,
                                  help_text="Redfish: https://host[:port]; IPMI: a host or IP address.")
    bmc_port = forms.IntegerField(label="Port", min_value=1, max_value=65535, required=False,
                                  help_text="IPMI: UDP port (default 623).")
    bmc_credential = forms.ModelChoiceField(label="Credential", queryset=Secret.objects.none(), to_field_name="name",
                                            help_text="A key-vault secret 'username:password' you may use; the BMC "
                                                      "address must lie within its destinations.")
    bmc_system_id = forms.CharField(label="System id", max_length=200, required=False,
                                    help_text="Redfish system id or path; empty: the only system.")
    bmc_verify_tls = forms.BooleanField(label="Verify the BMC's TLS certificate", required=False, initial=True)

    def __init__(self, *args, user, node: Node, **kwargs):
        bmc = node.bmc if hasattr(node, "bmc") else None
        if bmc is not None:
            kwargs["initial"] = {
                "bmc_driver": bmc.driver, "bmc_address": bmc.address, "bmc_port": bmc.port,
                "bmc_credential": bmc.credential.name, "bmc_system_id": bmc.system_id,
                "bmc_verify_tls": bmc.verify_tls, **(kwargs.get("initial") or {})}
        super().__init__(*args, **kwargs)
        self.fields["bmc_credential"].queryset = usable_secrets(user, bmc.credential if bmc else None)
        _styled(self)

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {"driver": data["bmc_driver"], "address": data["bmc_address"], "port": data["bmc_port"],
                "credential": data["bmc_credential"].name, "system_id": data["bmc_system_id"],
                "verify_tls": data["bmc_verify_tls"]}


class ImportForm(forms.Form):
    file = forms.FileField(required=False, help_text="CSV, JSON or YAML; the format follows the file name.")
    format = forms.ChoiceField(required=False, choices=[("", "(from the file name)"), ("csv", "CSV"),
                                                         ("json", "JSON"), ("yaml", "YAML")])
    content = forms.CharField(required=False, label="Or paste the rows",
                              widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].widget.attrs["accept"] = ".csv,.json,.yaml,.yml"
        _styled(self)

    def clean(self):
        data = super().clean()
        if not data.get("file") and not data.get("content"):
            raise ValidationError("Choose a file, or paste the rows.")
        return data

    def upload(self) -> dict:
        """The shape importer.read_upload takes."""
        data = {k: v for k, v in self.cleaned_data.items() if v}
        return data
