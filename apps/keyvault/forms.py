"""Page forms: add or edit a secret, issue a one-time token, reveal a secret. They shape input only;
the services in services.py and onetime.py decide who may do what, validate, and audit it. Their
refusals come back under the field they name (apps.rbac.page_views.add_service_errors), so the
form fields carry the services' names (`value`, `destinations`, `subject`, `ttl`...)."""
from django import forms
from django.conf import settings

from apps.rbac.models import Project
from apps.rbac.permissions import projects_to_act_in

from . import purposes, services
from .models import Secret, SecretKind

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never puts a value into the page (not even after a validation error)."""

    def format_value(self, value):
        return None


def style(form) -> None:
    """Bootstrap classes on every widget, so the kit's form page lays the fields out."""
    for field in form.fields.values():
        widget = field.widget
        css = "form-check-input" if isinstance(widget, forms.CheckboxInput) else \
            "form-select" if isinstance(widget, forms.Select) else "form-control"
        widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


def split_destinations(text: str) -> list[str]:
    """One entry per line (commas and spaces separate too); the service validates each."""
    return text.replace(",", "\n").split()


class SecretForm(forms.Form):
    """Create (`secret` None) or edit a secret. The value is write-only: never pre-filled; left
    empty on edit, the stored value stays."""

    name = forms.CharField(max_length=128, help_text="Letters, digits, '.', '_' and '-'; how nodes and "
                                                     "tokens refer to it.")
    kind = forms.ChoiceField(choices=SecretKind.choices, initial=SecretKind.OTHER)
    project = forms.ModelChoiceField(queryset=Project.objects.none(), required=False,
                                     empty_label="— none (operators only) —",
                                     help_text="Members of the owning project reach it by their project role.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                  help_text="Shown to whoever may see the secret; never put the value here.")
    expires_at = forms.DateTimeField(
        label="Expires", required=False, input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
        help_text="After this time it is refused for use and reveal. Empty: never.")
    destinations = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"}))
    value = forms.CharField(
        required=False, strip=False,
        widget=WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false",
                                        "autocapitalize": "off", "class": "font-monospace"}))

    def __init__(self, *args, user, secret: Secret | None = None, **kwargs):
        if secret is not None:
            kwargs["initial"] = {
                "name": secret.name, "kind": secret.kind, "project": secret.project_id,
                "description": secret.description, "expires_at": secret.expires_at,
                "destinations": "\n".join(secret.destinations or []), **(kwargs.get("initial") or {})}
        super().__init__(*args, **kwargs)
        self.secret = secret
        action = "change" if secret else "add"
        choices = projects_to_act_in(user, Secret, action)
        if secret is not None and secret.project_id:
            choices = choices | Project.objects.filter(pk=secret.project_id)  # keeping it is no move
        self.fields["project"].queryset = choices.distinct().order_by("name")
        may_have_none = services.may_act_in_project(user, None, action) or (secret and not secret.project_id)
        self.fields["project"].required = not may_have_none
        defaults = ", ".join(settings.SECRET_DEFAULT_DESTINATIONS) or "none"
        self.fields["destinations"].help_text = (
            "Where the value may be sent: CIDRs (10.20.0.0/16) or host names (bmc01.example.org, "
            "*.bmc.example.org), one per line. Nodes and BMCs outside them are refused. "
            + (f"Empty: the managed networks ({defaults})." if secret is None
               else "Empty: nowhere (jobs may not use it)."))
        self.fields["value"].required = secret is None
        self.fields["value"].help_text = (
            "Write-only: it is never shown here again. BMC credentials are 'username:password'. "
            + ("Required." if secret is None else "Leave empty to keep the current value."))
        style(self)

    def clean_destinations(self):
        entries = split_destinations(self.cleaned_data["destinations"])
        if not entries and self.secret is None:
            return None  # the service applies the default destinations
        return entries

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {f: data[f] for f in ("name", "kind", "project", "description", "expires_at", "destinations")}


class TokenIssueForm(forms.Form):
    purpose = forms.ChoiceField()
    subject = forms.CharField(max_length=200, help_text="For the secret purpose: the secret's name.",
                              widget=forms.TextInput(attrs={"list": "secret-names", "autocomplete": "off"}))
    ttl = forms.IntegerField(label="Lifetime (seconds)", min_value=1)
    bind_ip = forms.GenericIPAddressField(label="Bind to IP", required=False, unpack_ipv4=True,
                                          help_text="Only this address may redeem it (optional).")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purpose"].choices = [(p.name, f"{p.name}: {p.label}") for p in issuable_purposes(user)]
        self.fields["ttl"].initial = settings.KEYVAULT_TOKEN_TTL
        self.fields["ttl"].widget.attrs["max"] = settings.KEYVAULT_TOKEN_MAX_TTL
        self.fields["ttl"].help_text = (f"Default {settings.KEYVAULT_TOKEN_TTL} s, at most "
                                        f"{settings.KEYVAULT_TOKEN_MAX_TTL} s; unused, it expires then.")
        style(self)

    def clean_ttl(self):
        ttl = self.cleaned_data["ttl"]
        if ttl > settings.KEYVAULT_TOKEN_MAX_TTL:
            raise forms.ValidationError(f"At most {settings.KEYVAULT_TOKEN_MAX_TTL} seconds.")
        return ttl


def issuable_purposes(user) -> list:
    return [p for p in purposes.all_purposes() if user.has_perm(p.permission)]


class RevealForm(forms.Form):
    reason = forms.CharField(max_length=200)  # recorded in the access log and the audit log
