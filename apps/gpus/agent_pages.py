"""Pages of the node agent: revoking a credential (confirm first), and the agent download."""
from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path
from django.views import View

from apps.core.errors import ServiceError
from apps.core.page_messages import report_service_error
from apps.rbac.page_views import CONFIRM_FIELD, ObjectMixin

from . import agent_auth
from .agent_archive import agent_archive_view


class CredentialRevokeView(ObjectMixin, View):
    """GET: what revoking does; POST confirm=yes: agent_auth.revoke_credential()."""

    http_method_names = ["get", "post"]
    required_action = "change"
    template_name = "kit/confirm_page.html"

    def visible_queryset(self):
        return agent_auth.visible_credentials(self.request.user)

    def get(self, request, pk):
        credential = self.get_object()
        return render(request, self.template_name, {
            "page_title": f"Revoke the agent credential {credential.key_id} of {credential.node.name}?",
            "objects": [credential],
            "consequence": f"The agent on {credential.node.name} is refused (401) from its next push on and stops, "
                           "saying its credential was revoked. To collect again, enroll the node anew with a new "
                           "enrollment token. This cannot be undone.",
            "confirm_label": "Revoke", "danger": True, "cancel_url": credential.get_absolute_url()})

    def post(self, request, pk):
        credential = self.get_object()
        if request.POST.get(CONFIRM_FIELD) != "yes":
            return self.get(request, pk)
        try:
            agent_auth.revoke_credential(request.user, credential, (request.POST.get("reason") or "")[:200])
        except ServiceError as exc:
            report_service_error(request, exc)
        else:
            messages.success(request, f"Agent credential {credential.key_id} of {credential.node.name} revoked.")
        return redirect(credential.get_absolute_url())


app_name = "gpus-agent"
urlpatterns = [
    path("aimatrix-agent.pyz", agent_archive_view, name="archive"),
    path("credentials/<int:pk>/revoke/", CredentialRevokeView.as_view(), name="credential-revoke"),
]
