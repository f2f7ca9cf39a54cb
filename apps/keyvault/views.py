"""Pages: secrets (list, detail with access log, reveal), one-time tokens (list, issue, revoke)
and the global secret access log.

Querysets come from the services' visibility functions (restrict() underneath); every change goes
through services.py / onetime.py, which check permissions and write the audit. A secret's value and
a token string appear only in the response to the POST that asked for them, marked no-store.
"""
import django_filters
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.views.generic import DetailView, ListView

from apps.core.list_views import FilteredListMixin
from apps.core.errors import ServiceError
from apps.core.page_messages import report_service_error
from apps.rbac.models import Project
from apps.rbac.permissions import can, restrict

from . import onetime, services
from .filters import OneTimeTokenFilter, SecretAccessFilter, SecretFilter
from .forms import RevealForm, TokenIssueForm, issuable_purposes
from .models import OneTimeToken, SecretAccess, SecretKind


def _no_store(response):
    """Values and token strings must not land in any cache (browser, proxy, back button)."""
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response




# --- secrets -------------------------------------------------------------------------------------
class SecretPageFilter(SecretFilter):
    """The API's SecretFilter plus a name search for the list page."""

    name = django_filters.CharFilter(lookup_expr="icontains")


class SecretListView(FilteredListMixin, ListView):
    template_name = "keyvault/secret_list.html"
    filterset_class = SecretPageFilter

    def base_queryset(self):
        return services.visible_secrets(self.request.user).select_related("project")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        visible = services.visible_secrets(self.request.user)
        ctx["projects"] = Project.objects.filter(pk__in=visible.values("project")).values_list("name", flat=True)
        ctx["kinds"] = SecretKind.choices
        ctx["selected_kinds"] = self.request.GET.getlist("kind")
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
        ctx.update(page_obj=page, is_paginated=page.has_other_pages(), query="")
        ctx["may_reveal"] = can(user, secret, "reveal")
        ctx["reveal_form"] = RevealForm()
        ctx["may_issue"] = bool(issuable_purposes(user))
        ctx["may_edit"] = user.is_staff and can(user, secret, "change")
        return ctx


class SecretRevealView(LoginRequiredMixin, View):
    """POST only: the value is in this one response, never in a URL, a redirect or a session."""

    def post(self, request, pk):
        secret = get_object_or_404(services.visible_secrets(request.user), pk=pk)
        form = RevealForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Give a reason to reveal the value; it is recorded.")
            return redirect("keyvault:detail", pk=pk)
        try:
            value = services.reveal_secret(request.user, secret, form.cleaned_data["reason"])
        except ServiceError as exc:
            report_service_error(request, exc)
            return redirect("keyvault:detail", pk=pk)
        return _no_store(render(request, "keyvault/secret_reveal.html", {"secret": secret, "value": value}))


# --- one-time tokens -----------------------------------------------------------------------------
class TokenListView(FilteredListMixin, ListView):
    """GET: the tokens the user may see and the issue form. POST: issue one, show it once."""

    template_name = "keyvault/token_list.html"
    filterset_class = OneTimeTokenFilter

    def base_queryset(self):
        return onetime.visible_tokens(self.request.user).select_related("created_by", "revoked_by")

    def get_context_data(self, form=None, **kwargs):
        ctx = super().get_context_data(**kwargs)
        user = self.request.user
        tokens = list(ctx["page_obj"].object_list)
        ids = [t.pk for t in tokens]
        ctx["tokens"] = tokens
        # One query for the whole page, by the same rule revoke_token() applies.
        ctx["revocable"] = set(restrict(OneTimeToken.objects.filter(pk__in=ids), user, "delete")
                               .values_list("pk", flat=True)) if ids else set()
        if form is None:
            initial = {f: self.request.GET[f"issue-{f}"] for f in ("purpose", "subject")
                       if f"issue-{f}" in self.request.GET}
            form = TokenIssueForm(user=user, initial=initial)
        ctx["form"] = form
        ctx["may_issue"] = bool(form.fields["purpose"].choices)
        ctx["secret_names"] = services.visible_secrets(user).values_list("name", flat=True)[:500]
        return ctx

    def post(self, request):
        form = TokenIssueForm(request.POST, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                row, token = onetime.issue_token(request.user, data["purpose"], data["subject"], ttl=data["ttl"],
                                                 bind_ip=data["bind_ip"] or None)
            except ServiceError as exc:
                report_service_error(request, exc)
            else:
                return _no_store(render(request, "keyvault/token_issued.html", {"row": row, "token": token}))
        self.object_list = self.get_queryset()
        return self.render_to_response(self.get_context_data(form=form))


class TokenRevokeView(LoginRequiredMixin, View):
    def post(self, request, pk):
        token = get_object_or_404(onetime.visible_tokens(request.user), pk=pk)
        try:
            onetime.revoke_token(request.user, token)
        except ServiceError as exc:
            report_service_error(request, exc)
        else:
            messages.success(request, f"Token {token.token_prefix}… ({token.subject}) revoked.")
        return redirect("keyvault:tokens")


# --- access log ----------------------------------------------------------------------------------
class AccessLogView(PermissionRequiredMixin, FilteredListMixin, ListView):
    """Every read of every secret value in the user's reach: needs keyvault.view_secretaccess."""

    permission_required = "keyvault.view_secretaccess"
    template_name = "keyvault/access_list.html"
    filterset_class = SecretAccessFilter
    paginate_by = 100

    def base_queryset(self):
        return restrict(SecretAccess.objects.all(), self.request.user, "view")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["kinds"] = SecretAccess._meta.get_field("kind").choices
        ctx["selected_kinds"] = self.request.GET.getlist("kind")
        return ctx
