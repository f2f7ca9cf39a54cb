"""Key vault: encrypted secrets, their access log, one-time tokens and their redemption log.

No model here ever holds a plaintext value: `Secret.ciphertext` is a MultiFernet token (see
crypto.py) and `OneTimeToken.token_hash` is the SHA-256 of a token string handed out once.
"""
import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from .destinations import validate_destinations

name_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
    "Use 1-128 letters, digits, '.', '_' and '-', starting with a letter or digit.",
)


class SecretKind(models.TextChoices):
    SSH_PRIVATE_KEY = "ssh_private_key", "SSH private key"
    PASSWORD = "password", "Password"
    BMC_CREDENTIALS = "bmc_credentials", "BMC credentials"
    MUNGE_KEY = "munge_key", "Munge key"
    SALT_MASTER_KEY = "salt_master_key", "Salt master key"
    API_TOKEN = "api_token", "API token"
    TLS_KEY = "tls_key", "TLS key"
    WEBHOOK_SECRET = "webhook_secret", "Webhook signing secret"
    OTHER = "other", "Other"


class Secret(models.Model):
    name = models.CharField(max_length=128, unique=True, validators=[name_validator])
    kind = models.CharField(max_length=32, choices=SecretKind.choices, default=SecretKind.OTHER)
    description = models.TextField(blank=True)
    project = models.ForeignKey("rbac.Project", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="secrets", help_text="Owning project; empty: operators only")
    # MultiFernet token of the UTF-8 value; never shown anywhere.
    ciphertext = models.TextField(editable=False)
    # HMAC-SHA256 of the plaintext under a key derived from the encryption key; checked on decrypt.
    checksum = models.CharField(max_length=64, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False, help_text="Bumped on each new value")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Refused for use after this time")
    # Where the value may be sent: CIDRs and host names ("bmc01.example.org", "*.bmc.example.org").
    # Binding to, or connecting to, an address outside them is refused (see destinations.py).
    destinations = models.JSONField(default=list, blank=True, validators=[validate_destinations],
                                    help_text="CIDRs and host names this secret may be sent to")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("reveal_secret", "Can reveal secret values"),
                       ("use_secret", "Can bind secrets to nodes, BMCs and clusters and have jobs send them")]

    # apps.rbac.permissions: members of the owning project reach the secret by their project role.
    rbac_project_field = "project"

    def __str__(self):
        return self.name

    def __repr__(self):
        return f"<Secret {self.pk} {self.name!r} v{self.version}>"

    def get_absolute_url(self):
        return reverse("keyvault:detail", args=[self.pk])

    @property
    def checksum_prefix(self) -> str:
        return self.checksum[:8]

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class AccessKind(models.TextChoices):
    USE = "use", "Used by the system"
    REVEAL = "reveal", "Revealed to a user"
    TOKEN = "token", "Delivered through a one-time token"


class SecretAccess(models.Model):
    """One read of a secret's value: who or what, why, from where. Never the value."""

    secret = models.ForeignKey(Secret, null=True, on_delete=models.SET_NULL, related_name="accesses")
    secret_name = models.CharField(max_length=128)  # kept when the secret is deleted
    kind = models.CharField(max_length=8, choices=AccessKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_repr = models.CharField(max_length=200)
    purpose = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    timestamp = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        verbose_name_plural = "secret accesses"

    rbac_project_field = "secret__project"

    def __str__(self):
        return f"{self.secret_name} {self.kind} by {self.actor_repr}: {self.purpose}"


class OneTimeToken(models.Model):
    """A token that can be redeemed exactly once; only its SHA-256 is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(max_length=32)
    subject = models.CharField(max_length=200, help_text="What the token is for, as shown (e.g. a secret's name)")
    # The subject's primary key (e.g. of the secret): what redemption delivers, whatever renames happen.
    subject_key = models.CharField(max_length=64, blank=True, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # First characters of the token string (version and part of the nonce), to recognise it.
    token_prefix = models.CharField(max_length=16, editable=False)
    bind_ip = models.GenericIPAddressField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField(db_index=True)
    consumed_at = models.DateTimeField(null=True, blank=True)
    consumed_by_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)

    class Meta:
        ordering = ["-created_at"]

    rbac_owner_field = "created_by"

    def __str__(self):
        return f"{self.purpose}:{self.subject} ({self.token_prefix}…)"

    def get_absolute_url(self):
        """Tokens have no page of their own: the token list, narrowed to this subject."""
        return f"{reverse('keyvault:tokens')}?{urlencode({'subject': self.subject})}"

    @property
    def status(self) -> str:
        if self.revoked:
            return "revoked"
        if self.consumed_at:
            return "consumed"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"


class RedeemOutcome(models.TextChoices):
    OK = "ok", "Redeemed"
    INVALID = "invalid", "Malformed request"
    FORGED = "forged", "Bad signature or tampered token"
    EXPIRED = "expired", "Token expired"
    REPLAYED = "replayed", "Token already used"
    WRONG_IP = "wrong_ip", "Request from an address the token is not bound to"
    STALE_TIMESTAMP = "stale_timestamp", "Request timestamp too old or in the future"
    UNKNOWN = "unknown", "No such token, or revoked"
    UNAVAILABLE = "unavailable", "Token valid but its subject cannot be delivered"
    ERROR = "error", "Server error"


class TokenRedemption(models.Model):
    """One redemption attempt, good or bad. Never the token string."""

    token = models.ForeignKey(OneTimeToken, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="redemptions")
    outcome = models.CharField(max_length=16, choices=RedeemOutcome.choices, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    timestamp = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-timestamp", "-id"]

    # Token creators see the attempts on their tokens; operators with the permission see all.
    rbac_owner_field = "token__created_by"

    def __str__(self):
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.outcome} from {self.ip or '-'}"
