"""Pages of the node agent: revoking a credential (confirm first), and the agent download."""
from __future__ import annotations

from django.urls import path

from apps.rbac.page_views import KitConfirmView, ObjectMixin

from . import agent_auth
from .agent_archive import agent_archive_view


class CredentialRevokeView(ObjectMixin, KitConfirmView):
    """GET: what revoking does; POST confirm=yes: agent_auth.revoke_credential()."""

    required_action = "change"

    def visible_queryset(self):
        return agent_auth.visible_credentials(self.request.user)

    def confirmation(self, credential) -> dict:
        return {"page_title": f"Revoke the agent credential {credential.key_id} of {credential.node.name}?",
                "consequence": f"The agent on {credential.node.name} is refused (401) from its next push on and "
                               "stops, saying its credential was revoked. To collect again, enroll the node anew "
                               "with a new enrollment token. This cannot be undone.",
                "confirm_label": "Revoke", "cancel_url": credential.get_absolute_url()}

    def act(self, credential) -> str:
        agent_auth.revoke_credential(self.request.user, credential, (self.request.POST.get("reason") or "")[:200])
        return f"Agent credential {credential.key_id} of {credential.node.name} revoked."


app_name = "gpus-agent"
urlpatterns = [
    path("aimatrix-agent.pyz", agent_archive_view, name="archive"),
    path("credentials/<int:pk>/revoke/", CredentialRevokeView.as_view(), name="credential-revoke"),
]
