"""Nodes: one row per machine, whatever it is used for. Host keys and BMC hang off it."""
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from .validators import validate_address, validate_labels, validate_node_name, validate_unix_user


class NodeState(models.TextChoices):
    NEW = "new", "New"
    READY = "ready", "Ready"
    UNREACHABLE = "unreachable", "Unreachable"
    MAINTENANCE = "maintenance", "Maintenance"
    RETIRED = "retired", "Retired"


class Node(models.Model):
    name = models.CharField(max_length=63, unique=True, validators=[validate_node_name])
    address = models.CharField(max_length=253, validators=[validate_address])
    ssh_port = models.PositiveIntegerField(default=22, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    ssh_user = models.CharField(max_length=32, default="root", validators=[validate_unix_user])
    ssh_credential = models.ForeignKey("keyvault.Secret", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="ssh_nodes")
    labels = models.JSONField(default=list, blank=True, validators=[validate_labels])
    project = models.ForeignKey("rbac.Project", null=True, blank=True, on_delete=models.PROTECT, related_name="nodes")
    state = models.CharField(max_length=16, choices=NodeState.choices, default=NodeState.NEW, db_index=True)
    state_reason = models.CharField(max_length=300, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    facts_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    rbac_project_field = "project"

    class Meta:
        ordering = ["name"]
        permissions = [
            ("use_node", "Can run jobs on a node"),
            ("manage_node", "Can manage a node (power, host keys)"),
            ("run_command_node", "Can run arbitrary commands on nodes"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("nodes:detail", args=[self.pk])


class HostKeyState(models.TextChoices):
    PENDING = "pending", "Pending approval"
    TRUSTED = "trusted", "Trusted"
    REVOKED = "revoked", "Revoked"


class HostKey(models.Model):
    """An SSH host key a node offered or was registered with. Only trusted keys are accepted."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="host_keys")
    key_type = models.CharField(max_length=64)
    public_key = models.TextField(help_text="base64 key blob as in known_hosts")
    fingerprint = models.CharField(max_length=100, help_text="SHA256:... as ssh-keygen -l prints it")
    state = models.CharField(max_length=8, choices=HostKeyState.choices, default=HostKeyState.PENDING)
    first_seen = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["node", "key_type"]
        constraints = [models.UniqueConstraint(fields=["node", "key_type", "public_key"], name="hostkey_unique")]

    def __str__(self):
        return f"{self.node} {self.key_type} {self.fingerprint} ({self.state})"


class BmcDriver(models.TextChoices):
    REDFISH = "redfish", "Redfish"
    IPMI = "ipmi", "IPMI"


class Bmc(models.Model):
    node = models.OneToOneField(Node, on_delete=models.CASCADE, related_name="bmc")
    driver = models.CharField(max_length=8, choices=BmcDriver.choices)
    address = models.CharField(max_length=300, help_text="Redfish: base URL (https://host[:port]); IPMI: host")
    port = models.PositiveIntegerField(null=True, blank=True, help_text="IPMI: UDP port (default 623)")
    credential = models.ForeignKey("keyvault.Secret", on_delete=models.PROTECT, related_name="bmc_nodes",
                                   help_text="a bmc_credentials secret: 'username:password'")
    system_id = models.CharField(max_length=200, blank=True, help_text="Redfish system id or path")
    verify_tls = models.BooleanField(default=True)
    power_state = models.CharField(max_length=16, blank=True)
    health = models.CharField(max_length=32, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True, db_index=True)
    poll_error = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = "BMC"

    def __str__(self):
        return f"{self.node} {self.driver} BMC"


class NodeEvent(models.Model):
    """Things that happened to a node outside a job: power state changes, host key decisions."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="events")
    timestamp = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=32)
    message = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-timestamp", "-id"]

    def __str__(self):
        return f"{self.node} {self.kind}: {self.message}"


from .salt_models import (EnrollmentMethod, EnrollmentState, HmacNonce, SaltEnrollment, SaltKeyState,  # noqa: E402,F401
                          SaltMaster, SaltMinion, SaltMinionGroup, SaltRun)
