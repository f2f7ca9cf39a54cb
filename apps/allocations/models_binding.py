"""Binding allocations to the real fleet (see apps/allocations/binding.py):

AllocationBinding: one piece of the fleet an allocation is bound to while it is active. A Slurm
reservation on a cluster (the allocation's nodes there, for the project's account and users), or
SSH access to a standalone node (the requester's public keys in the node user's authorized_keys,
and the CUDA_VISIBLE_DEVICES value of the allocated GPUs). `goal` is what the portal wants
(present while the allocation is active, absent after), `state` what the last attempt achieved;
the beat sweep retries every row whose state is not `done`.

UserSshKey: a portal user's SSH public keys, installed on standalone nodes for their allocations.
"""
from django.conf import settings
from django.db import models


class BindingKind(models.TextChoices):
    SLURM_RESERVATION = "slurm", "Slurm reservation"
    SSH_ACCESS = "ssh", "SSH access"


class BindingGoal(models.TextChoices):
    PRESENT = "present", "Present"
    ABSENT = "absent", "Absent"


class BindingState(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (retried)"


class AllocationBinding(models.Model):
    allocation = models.ForeignKey("allocations.Allocation", on_delete=models.CASCADE, related_name="bindings")
    kind = models.CharField(max_length=8, choices=BindingKind.choices)
    cluster = models.ForeignKey("clusters.Cluster", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    node = models.ForeignKey("nodes.Node", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The reservation's name (Slurm) or the node's name (SSH).
    name = models.CharField(max_length=100)
    slurm_nodes = models.JSONField(default=list, blank=True, help_text="Slurm node names reserved")
    gpu_indexes = models.JSONField(default=list, blank=True)
    devices = models.CharField(max_length=200, blank=True, help_text="CUDA_VISIBLE_DEVICES on the node")
    login = models.CharField(max_length=32, blank=True, help_text="Unix user the keys are installed for")
    accounts = models.JSONField(default=list, blank=True)
    users = models.JSONField(default=list, blank=True)
    goal = models.CharField(max_length=8, choices=BindingGoal.choices, default=BindingGoal.PRESENT)
    state = models.CharField(max_length=8, choices=BindingState.choices, default=BindingState.PENDING, db_index=True)
    # The end the fleet has (a reservation's EndTime): an extension updates it.
    applied_end = models.DateTimeField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True, help_text="Outcome of the last attempt")
    attempts = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    rbac_project_field = "allocation__project"

    class Meta:
        ordering = ["allocation", "kind", "name"]
        constraints = [models.UniqueConstraint(fields=["allocation", "kind", "name"], name="allocbinding_unique")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.name} of allocation {self.allocation_id}"


class UserSshKey(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ssh_keys")
    name = models.CharField(max_length=100)
    public_key = models.TextField(help_text="One OpenSSH public key line (ssh-ed25519, ecdsa-sha2-*, ssh-rsa)")
    fingerprint = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    rbac_owner_field = "user"

    class Meta:
        verbose_name = "user SSH key"
        ordering = ["user", "name"]
        constraints = [models.UniqueConstraint(fields=["user", "fingerprint"], name="usersshkey_unique")]

    def __str__(self):
        return f"{self.name} ({self.fingerprint})"
