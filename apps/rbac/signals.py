"""Login, lockout and LDAP hooks (connected from RbacConfig.ready()).

- django-auth-ldap `populate_user`: apply the LDAP group map (apps.rbac.ldap.sync_ldap_user).
- django-auth-ldap `ldap_error`: remember on the request that the directory could not be used,
  so the login page can say so instead of "wrong password".
- Django `user_logged_in` / `user_login_failed` and axes `user_locked_out`: audit entries
  `auth.login`, `auth.login_failed`, `auth.lockout` (username and IP; never a password).
  They name the user in `changes` rather than as the audit object: the username may not exist,
  and the login path then needs no ContentType lookup (whose per-process cache goes stale in
  long-lived test servers when a transactional test flushes the database).
"""
from __future__ import annotations

import logging

from axes.signals import user_locked_out
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from apps.core import request_context
from apps.core.audit import record_audit

from . import ldap as rbac_ldap

logger = logging.getLogger("aimatrix.rbac.auth")

# Set by apps.rbac.forms.LoginForm: it shows the directory error itself, as a form error.
FORM_REPORTS_LDAP_FLAG = "aimatrix_login_form_reports_ldap"


def _ip(request) -> str | None:
    if request is None:
        return request_context.current().ip
    return getattr(request, "axes_ip_address", None) or request_context.client_ip(getattr(request, "META", {}))


def _username_field() -> str:
    return get_user_model().USERNAME_FIELD


# --- LDAP --------------------------------------------------------------------------------------

try:
    from django_auth_ldap.backend import ldap_error, populate_user
except ImportError:  # pragma: no cover - django-auth-ldap is in requirements/base.txt
    ldap_error = populate_user = None


def on_ldap_populate_user(sender, user, ldap_user, **kwargs):
    """Called by django-auth-ldap after a successful bind, before it saves the user."""
    mapped = bool(rbac_ldap.group_map())
    # Read the groups first: an LDAP error here fails the login (django-auth-ldap reports it)
    # before anything is written. Without AIMATRIX_LDAP_GROUP_MAP, LDAP only checks passwords
    # and roles and memberships stay managed by hand.
    group_dns = set(ldap_user.group_dns) if mapped else set()
    if user.pk is None:
        user.save()  # memberships and groups need a primary key; django-auth-ldap saves again
        record_audit("user.ldap_create", obj=user, after={"username": user.get_username(), "dn": ldap_user.dn})
    if mapped:
        rbac_ldap.sync_ldap_user(user, group_dns)


def on_ldap_error(sender, context, user, request=None, exception=None, **kwargs):
    kind = rbac_ldap.classify_ldap_error(exception)
    logger.warning("LDAP %s (%s): %s", "unreachable" if kind == "unreachable" else "error", context,
                   type(exception).__name__)
    if request is not None:
        # "unreachable" wins over a later, secondary error in the same request.
        if getattr(request, rbac_ldap.REQUEST_FLAG, None) != "unreachable":
            setattr(request, rbac_ldap.REQUEST_FLAG, kind)


if populate_user is not None:
    populate_user.connect(on_ldap_populate_user, dispatch_uid="rbac-ldap-populate-user")
    ldap_error.connect(on_ldap_error, dispatch_uid="rbac-ldap-error")


# --- Login audit -------------------------------------------------------------------------------

@receiver(user_logged_in, dispatch_uid="rbac-audit-login")
def on_user_logged_in(sender, request, user, **kwargs):
    record_audit("auth.login", actor=user,
                 after={"username": user.get_username(), "ip": _ip(request),
                        "backend": getattr(user, "backend", "")})


@receiver(user_login_failed, dispatch_uid="rbac-audit-login-failed")
def on_user_login_failed(sender, credentials, request=None, **kwargs):
    # Django already masks secrets in `credentials`; only the username is kept anyway.
    username = (credentials or {}).get(_username_field()) or (credentials or {}).get("username") or ""
    ldap_kind = getattr(request, rbac_ldap.REQUEST_FLAG, None) if request is not None else None
    after = {"username": str(username)[:150], "ip": _ip(request)}
    if getattr(request, "axes_locked_out", False):
        after["reason"] = "locked out"
    elif ldap_kind:
        after["reason"] = f"directory {ldap_kind}"
    record_audit("auth.login_failed", after=after)
    message = rbac_ldap.login_error_message(ldap_kind)
    if message and request is not None and not getattr(request, FORM_REPORTS_LDAP_FLAG, False):
        # Shown by base.html's message list on the re-rendered login page.
        messages.error(request, message, fail_silently=True)


@receiver(user_locked_out, dispatch_uid="rbac-audit-lockout")
def on_user_locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    record_audit("auth.lockout",
                 after={"username": str(username or "")[:150], "ip": ip_address or _ip(request)})
