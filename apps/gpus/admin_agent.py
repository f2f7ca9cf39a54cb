"""Admin for node agent credentials: read-only rows (metadata only) with a revoke action."""
from django.contrib import admin, messages

from apps.core.admin_mixins import ReadOnlyModelAdmin
from apps.core.errors import ServiceError
from apps.rbac.admin_base import RestrictedModelAdmin

from . import agent_auth
from .models_agent import NodeCredential


@admin.register(NodeCredential)
class NodeCredentialAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    list_display = ["key_id", "node", "state", "hostname", "created_at", "created_by", "last_used_at",
                    "last_used_ip", "revoked_at", "revoked_by"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), ("created_at", admin.DateFieldListFilter)]
    search_fields = ["key_id", "hostname", "node__name"]
    list_select_related = ["node", "created_by", "revoked_by"]
    exclude = ["secret_hash"]
    readonly_fields = ["node", "key_id", "enrollment_token", "created_at", "created_by", "enrolled_from", "hostname",
                       "last_used_at", "last_used_ip", "revoked_at", "revoked_by", "revoked_reason"]
    actions = ["revoke_credentials"]

    def has_revoke_permission(self, request):
        return request.user.has_perm("gpus.change_nodecredential")

    @admin.action(description="Revoke selected agent credentials", permissions=["revoke"])
    def revoke_credentials(self, request, queryset):
        for credential in queryset:
            try:
                agent_auth.revoke_credential(request.user, credential, "revoked in the admin")
                self.message_user(request, f"Revoked {credential}.", messages.SUCCESS)
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
