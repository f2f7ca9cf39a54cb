"""Page forms: issue a one-time token, reveal a secret. They shape input only; the services in
onetime.py and services.py decide who may do what, and audit it."""
from django import forms
from django.conf import settings

from . import purposes


class TokenIssueForm(forms.Form):
    """Fields carry the prefix "issue-" so they never clash with the token list's filters."""

    purpose = forms.ChoiceField()
    subject = forms.CharField(max_length=200, help_text="For the secret purpose: the secret's name.",
                              widget=forms.TextInput(attrs={"list": "secret-names"}))
    ttl = forms.IntegerField(label="Lifetime (seconds)", min_value=1)
    bind_ip = forms.GenericIPAddressField(label="Bind to IP", required=False, unpack_ipv4=True,
                                          help_text="Only this address may redeem it (optional).")

    def __init__(self, *args, user, **kwargs):
        kwargs.setdefault("prefix", "issue")
        super().__init__(*args, **kwargs)
        self.fields["purpose"].choices = [(p.name, f"{p.name}: {p.label}") for p in issuable_purposes(user)]
        self.fields["ttl"].initial = settings.KEYVAULT_TOKEN_TTL
        self.fields["ttl"].widget.attrs["max"] = settings.KEYVAULT_TOKEN_MAX_TTL

    def clean_ttl(self):
        ttl = self.cleaned_data["ttl"]
        if ttl > settings.KEYVAULT_TOKEN_MAX_TTL:
            raise forms.ValidationError(f"At most {settings.KEYVAULT_TOKEN_MAX_TTL} seconds.")
        return ttl


def issuable_purposes(user) -> list:
    return [p for p in purposes.all_purposes() if user.has_perm(p.permission)]


class RevealForm(forms.Form):
    reason = forms.CharField(max_length=200)  # recorded in the access log and the audit log
