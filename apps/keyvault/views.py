"""Pages: secrets (list, detail with access log, add, edit, delete, reveal), one-time tokens (list,
issue, revoke) and the global secret access log.

Built on the page kit (apps.core.list_views, apps.rbac.page_views). Querysets come from the
services' visibility functions (restrict() underneath); every change goes through services.py /
onetime.py, which check permissions, validate and write the audit. A secret's value and a token
string appear only in the response to the POST that asked for them, marked no-store; no form is
ever pre-filled with a value.
"""
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView

from apps.core.caching import never_cached
from apps.core.audit import change_log
from apps.core.errors import ServiceError
from apps.core.list_views import KitListView, detail_tab
from apps.core.page_messages import report_service_error
from apps.rbac.page_views import KitConfirmView, KitDeleteView, KitFormView, ObjectMixin, add_service_errors
from apps.rbac.permissions import can, projects_to_act_in, restrict

from . import onetime, services
from .filters import AccessPageFilter, SecretPageFilter, TokenPageFilter
from .forms import RevealForm, SecretForm, TokenIssueForm, issuable_purposes
from .models import OneTimeToken, Secret, SecretAccess
from .tables import AccessTable, SecretTable, TokenTable



def may_add_secrets(user) -> bool:
    return services.may_act_in_project(user, None, "add") or projects_to_act_in(user, Secret, "add").exists()


# --- secrets -------------------------------------------------------------------------------------
class SecretListView(KitListView):
    template_name = "keyvault/secret_list.html"
    filterset_class = SecretPageFilter
    table_class = SecretTable
    page_title = "Secrets"
    page_intro = "Encrypted credentials that nodes, BMCs and jobs use; values are never shown here."
    export_name = "secrets.csv"
    empty = {"title": "No secrets you may see",
             "text": "A secret is a credential (SSH key, BMC login, munge key, API token) stored encrypted; "
                     "nodes and BMCs refer to it, and jobs send it only to its allowed destinations.",
             "how": "Add one with its value and where it may be sent; project members see their project's secrets."}

    def base_queryset(self):
        return services.visible_secrets(self.request.user).select_related("project")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["may_add"] = may_add_secrets(self.request.user)
        if ctx["may_add"]:
            ctx["empty_action_url"], ctx["empty_action_label"] = reverse("keyvault:create"), "New secret"
        return ctx


class SecretDetailView(LoginRequiredMixin, DetailView):
    template_name = "keyvault/secret_detail.html"
    context_object_name = "secret"

    def get_queryset(self):
        return services.visible_secrets(self.request.user).select_related("project", "created_by", "updated_by")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        secret, user = self.object, self.request.user
        # Who may see the secret sees who read it (as the API's access-log action does).
        accesses = SecretAccess.objects.filter(secret=secret).order_by("-timestamp", "-id")
        page = Paginator(accesses, 50).get_page(self.request.GET.get("page"))
        ctx.update(page_obj=page, is_paginated=page.has_other_pages(), query="tab=related")
        ctx["active_tab"] = "related" if self.request.GET.get("page") else detail_tab(self.request)
        ctx["changes"] = change_log(user, secret)
        ctx["references"] = services.references(secret)
        ctx["may_reveal"] = can(user, secret, "reveal")
        ctx["reveal_form"] = RevealForm()
        ctx["may_issue"] = bool(issuable_purposes(user))
        ctx["may_edit"] = can(user, secret, "change")
        ctx["may_delete"] = can(user, secret, "delete")
        return ctx


class SecretFormView(ObjectMixin, KitFormView):
    """Add (/keyvault/new/) or edit (/keyvault/<pk>/edit/) a secret through create_secret /
    update_secret. The value field is write-only; left empty on edit, the value stays."""

    template_name = "keyvault/secret_form.html"
    http_method_names = ["get", "post"]  # FormView would take PUT as a POST
    required_action = "change"
    submit_label = "Save"
    success_message = "Saved secret {obj}."

    def may_create(self):
        return may_add_secrets(self.request.user)

    def visible_queryset(self):
        return services.visible_secrets(self.request.user).select_related("project")

    @property
    def page_title(self):
        return "Edit secret {obj}" if self.object else "New secret"

    @property
    def page_intro(self):
        return ("Metadata, destinations, and optionally a new value (the version goes up)." if self.object
                else "Stored encrypted; only its metadata is ever shown again.")

    def get_form_class(self):
        return SecretForm

    def form_kwargs(self):
        return {"user": self.request.user, "secret": self.object}

    def save(self, form):
        fields, value = form.service_fields(), form.cleaned_data["value"]
        if self.object is None:
            return services.create_secret(self.request.user, value=value, **fields)
        return services.update_secret(self.request.user, self.object, **fields, **({"value": value} if value else {}))

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["cancel_url"] = ctx["cancel_url"] or reverse("keyvault:list")
        return ctx

    def render_to_response(self, context, **kwargs):
        return never_cached(super().render_to_response(context, **kwargs))


class SecretDeleteView(KitDeleteView):
    """Confirms first, naming what still uses the secret; refuses (no button) while anything does."""

    template_name = "keyvault/secret_confirm_delete.html"
    http_method_names = ["get", "post"]  # `delete(obj)` is the kit's hook, not an HTTP DELETE handler
    success_url = "keyvault:list"

    def visible_queryset(self):
        return services.visible_secrets(self.request.user).select_related("project")

    def consequence(self, obj):
        return (f"Secret {obj.name} and its value will be deleted; its access log keeps the name. "
                "Nothing can use or reveal it afterwards. This cannot be undone.")

    def get(self, request, pk):
        obj = self.get_object()
        used_by = services.references(obj)
        return render(request, self.template_name, {
            "page_title": f"Delete secret {obj}?", "consequence": self.consequence(obj), "objects": [obj],
            "used_by": used_by, "refused": bool(used_by), "confirm_label": "Delete", "danger": True, "cancel_url": obj.get_absolute_url()})

    def delete(self, obj):
        services.delete_secret(self.request.user, obj)


class SecretRevealView(LoginRequiredMixin, View):
    """POST only: the value is in this one response, never in a URL, a redirect or a session."""

    def post(self, request, pk):
        secret = get_object_or_404(services.visible_secrets(request.user), pk=pk)
        form = RevealForm(request.POST)
        if not form.is_valid():
            messages.error(request, "reason: give a reason to reveal the value; it is recorded.")
            return redirect("keyvault:detail", pk=pk)
        try:
            value = services.reveal_secret(request.user, secret, form.cleaned_data["reason"])
        except ServiceError as exc:
            report_service_error(request, exc)
            return redirect("keyvault:detail", pk=pk)
        return never_cached(render(request, "keyvault/secret_reveal.html", {"secret": secret, "value": value}))


# --- one-time tokens -----------------------------------------------------------------------------
class TokenListView(KitListView):
    template_name = "keyvault/token_list.html"
    filterset_class = TokenPageFilter
    table_class = TokenTable
    page_title = "One-time tokens"
    page_intro = "Tokens that hand out one thing once (a secret's value, a node enrollment); only their hash is kept."
    export_name = "tokens.csv"
    empty = {"title": "No one-time tokens yet",
             "text": "A one-time token lets a machine fetch one thing once, without an account: it is "
                     "signed, expires after minutes, and is consumed by its first redemption.",
             "how": "Issue one for a secret you may reveal; copy it from the next page, it is shown only there."}

    def base_queryset(self):
        user = self.request.user
        # Whether each row may be revoked, by revoke_token()'s rule, in the same query.
        revocable = restrict(OneTimeToken.objects.all(), user, "delete").filter(pk=OuterRef("pk"))
        return onetime.visible_tokens(user).select_related("created_by", "revoked_by") \
            .annotate(may_revoke=Exists(revocable))

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["may_issue"] = bool(issuable_purposes(self.request.user))
        if ctx["may_issue"]:
            ctx["empty_action_url"], ctx["empty_action_label"] = reverse("keyvault:token-issue"), "Issue a token"
        return ctx


class TokenIssueView(KitFormView):
    """Issue through onetime.issue_token(); the token is in this one POST response (no redirect)."""

    template_name = "keyvault/token_issue.html"
    http_method_names = ["get", "post"]
    page_title = "Issue a one-time token"
    page_intro = "The token is shown once on the next page; only its hash is stored."
    submit_label = "Issue token"
    form_class = TokenIssueForm

    def may_create(self):
        return bool(issuable_purposes(self.request.user))

    def form_kwargs(self):
        return {"user": self.request.user}

    def get_initial(self):
        return {f: self.request.GET[f] for f in ("purpose", "subject") if f in self.request.GET}

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            row, token = onetime.issue_token(self.request.user, data["purpose"], data["subject"], ttl=data["ttl"],
                                             bind_ip=data["bind_ip"] or None)
        except ServiceError as exc:  # e.g. no reveal access to that secret: said on the form
            add_service_errors(form, exc)
            return self.render_to_response(self.get_context_data(form=form), status=exc.status)
        return never_cached(render(self.request, "keyvault/token_issued.html", {"row": row, "token": token}))

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["cancel_url"] = reverse("keyvault:tokens")
        ctx["secret_names"] = services.visible_secrets(self.request.user).values_list("name", flat=True)[:500]
        return ctx


class TokenRevokeView(ObjectMixin, KitConfirmView):
    """GET: what revoking does, for this token; POST confirm=yes: onetime.revoke_token()."""

    required_action = "delete"

    def visible_queryset(self):
        return onetime.visible_tokens(self.request.user)

    def confirmation(self, token) -> dict:
        return {"page_title": f"Revoke token {token.token_prefix}…?", "confirm_label": "Revoke",
                "consequence": f"Nobody will be able to redeem this token ({token.purpose}: {token.subject}) any "
                               "more; a machine still waiting for it has to be given a new one. This cannot be undone.",
                "cancel_url": reverse("keyvault:tokens")}

    def act(self, token) -> str:
        onetime.revoke_token(self.request.user, token)
        return f"Token {token.token_prefix}… ({token.subject}) revoked."

    def done_url(self, token) -> str:
        return reverse("keyvault:tokens")


# --- access log ----------------------------------------------------------------------------------
class AccessLogView(PermissionRequiredMixin, KitListView):
    """Every read of every secret value in the user's reach: needs keyvault.view_secretaccess."""

    permission_required = "keyvault.view_secretaccess"
    template_name = "keyvault/access_list.html"
    filterset_class = AccessPageFilter
    table_class = AccessTable
    page_title = "Secret access log"
    page_intro = "Every read of a secret's value: by the system for a job, revealed to a person, or through a token."
    export_name = "secret-access-log.csv"
    empty = {"title": "No secret has been read yet",
             "text": "Each time a job sends a secret, a person reveals one or a token delivers one, a row "
                     "lands here: who or what, why, from where. Never the value."}

    def base_queryset(self):
        return restrict(SecretAccess.objects.all(), self.request.user, "view")
