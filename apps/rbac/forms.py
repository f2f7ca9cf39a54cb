"""The login form: tells "the directory is unreachable" apart from "wrong password"; the page a
locked-out login gets (django-axes AXES_LOCKOUT_CALLABLE); the project, member and grant forms
of the project pages (their services validate again and audit)."""
from __future__ import annotations

import math

from django import forms
from django.contrib import messages
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import render

from . import ldap as rbac_ldap
from .models import ProjectRole
from .services import GRANT_ACTIONS, grantable_types
from .signals import FORM_REPORTS_LDAP_FLAG


class LoginForm(AuthenticationForm):
    """AuthenticationForm that reports an LDAP outage (flagged on the request by the
    django-auth-ldap `ldap_error` handler in apps.rbac.signals) as its non-field error."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "ldap_unreachable": rbac_ldap.LDAP_UNREACHABLE_MESSAGE,
        "ldap_error": rbac_ldap.LDAP_ERROR_MESSAGE,
    }

    def clean(self):
        if self.request is not None:
            # This form shows the directory error itself; no duplicate flash message.
            setattr(self.request, FORM_REPORTS_LDAP_FLAG, True)
        try:
            return super().clean()
        except ValidationError as exc:
            kind = getattr(self.request, rbac_ldap.REQUEST_FLAG, None)
            if kind and getattr(exc, "code", None) == "invalid_login":
                raise ValidationError(self.error_messages[f"ldap_{kind}"], code=f"ldap_{kind}") from None
            raise


def lockout_message(request) -> str:
    from axes.helpers import get_cool_off

    cool_off = get_cool_off(request)
    if cool_off:
        minutes = max(1, math.ceil(cool_off.total_seconds() / 60))
        wait = f"try again in {minutes} minute{'s' if minutes != 1 else ''}"
    else:
        wait = "an administrator must unlock it"
    # Administrators unlock early with `manage.py axes_reset_username USERNAME`.
    return f"Too many failed logins: this account is locked; {wait}."


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: the login page again, status 429, with the lockout explained in
    the page's message list (JSON for XHR clients)."""
    from axes.conf import settings as axes_settings

    status = axes_settings.AXES_HTTP_RESPONSE_CODE
    message = lockout_message(request)
    if request.headers.get("x-requested-with") == "XMLHttpRequest" or \
            "application/json" in request.headers.get("accept", ""):
        return JsonResponse({"detail": message}, status=status)
    messages.error(request, message, fail_silently=True)
    context = {"form": LoginForm(request), "next": request.POST.get("next", request.GET.get("next", ""))}
    return render(request, "registration/login.html", context, status=status)


def _bootstrap(form: forms.Form) -> None:
    for field in form.fields.values():
        widget = field.widget
        css = "form-select" if isinstance(widget, forms.Select) else "form-control"
        widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


class KitForm(forms.Form):
    """A page-kit form: Bootstrap classes on every widget."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _bootstrap(self)


class GrantForm(KitForm):
    """Give a project an action on one object (checked and audited by apps.rbac.services.grant)."""

    object_type = forms.ChoiceField(choices=grantable_types, label="Object type")
    object_id = forms.CharField(max_length=64, label="Object id", help_text="the object's id, as in its page's address")
    permission = forms.ChoiceField(choices=[(a, a) for a in GRANT_ACTIONS],
                                   help_text="view: see it; use: work with it; manage: change and hand it on")


QUOTA_HELP = "Empty: no limit. Only operators change quotas."


class ProjectForm(KitForm):
    """Create (name, description, quotas) or edit (the name is fixed once created). Quotas are
    shown read-only to whoever may not change them (apps.rbac.services.update_project refuses)."""

    name = forms.CharField(max_length=63, help_text="1-63 lowercase letters, digits and '-'; cannot be changed later.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    gpu_quota = forms.IntegerField(required=False, min_value=0, label="GPU quota",
                                   help_text="GPUs allocated at once. " + QUOTA_HELP)
    gpu_hours_quota = forms.IntegerField(required=False, min_value=0, label="GPU hours per month",
                                         help_text="GPU hours per month. " + QUOTA_HELP)

    def __init__(self, *args, editing: bool = False, may_set_quotas: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["name"]
        if not may_set_quotas:
            for name in ("gpu_quota", "gpu_hours_quota"):
                self.fields[name].disabled = True


class MemberAddForm(KitForm):
    username = forms.CharField(max_length=150, label="User name", help_text="an existing, active account")
    role = forms.ChoiceField(choices=ProjectRole.choices, initial=ProjectRole.MEMBER,
                             help_text="viewer: sees; member: also works with the project's objects; owner: everything")


class MemberRoleForm(KitForm):
    role = forms.ChoiceField(choices=ProjectRole.choices)
