"""The node agent's credential: node-scoped, revocable, stored hashed (imported by models.py)."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse


class NodeCredentialState(models.TextChoices):
    ACTIVE = "active", "Active"
    REVOKED = "revoked", "Revoked"


class NodeCredential(models.Model):
    """What an agent presents as `Authorization: Bearer <credential>`.

    The credential string (`anc1.<key_id>.<secret>`) is shown once, to the agent that redeemed
    its node's enrollment token; only `key_id` (to find the row) and SHA-256 of the whole string
    are stored. Revoking sets `revoked_at`: the next push answers 401.
    """

    node = models.ForeignKey("nodes.Node", on_delete=models.CASCADE, related_name="agent_credentials")
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    enrollment_token = models.UUIDField(null=True, blank=True, editable=False,
                                        help_text="The one-time token (key vault) this credential was issued for")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="Who issued the enrollment token")
    enrolled_from = models.GenericIPAddressField(null=True, blank=True)
    hostname = models.CharField(max_length=200, blank=True, help_text="As the agent reported it when enrolling")
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    revoked_reason = models.CharField(max_length=200, blank=True)

    rbac_project_field = "node__project"

    class Meta:
        verbose_name = "node agent credential"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["node", "revoked_at"], name="nodecred_node_revoked")]

    def __str__(self):
        return f"agent credential {self.key_id} of {self.node}"

    @property
    def state(self) -> str:
        return NodeCredentialState.REVOKED if self.revoked_at else NodeCredentialState.ACTIVE

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def get_absolute_url(self):
        return reverse("nodes:detail", args=[self.node_id]) + "?tab=agent"
