"""The login form: tells "the directory is unreachable" apart from "wrong password"; the page a
locked-out login gets (django-axes AXES_LOCKOUT_CALLABLE); the project page's grant form."""
from __future__ import annotations

import math

from django import forms
from django.contrib import messages
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import render

from . import ldap as rbac_ldap
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


class GrantForm(forms.Form):
    """Give a project an action on one object (checked and audited by apps.rbac.services.grant)."""

    object_type = forms.ChoiceField(choices=grantable_types)
    object_id = forms.CharField(max_length=64, label="Object id", help_text="the object's id, as in its page's address")
    permission = forms.ChoiceField(choices=[(a, a) for a in GRANT_ACTIONS])
