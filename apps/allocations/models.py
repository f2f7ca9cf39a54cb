"""GPU allocations: a request for GPUs over a time window, the concrete GPUs it books, and the
per-project quotas that decide auto-approval.

AllocationGpu rows are the bookings. `holds` is true while the allocation is in a holding state
(states.HOLDING); on PostgreSQL an exclusion constraint (migration 0002) refuses two holding rows
of one GPU whose [start, end) ranges overlap, so the database itself forbids double booking.
"""
from django.conf import settings
from django.db import models
from django.urls import reverse

from .states import HOLDING, AllocationState


class Allocation(models.Model):
    project = models.ForeignKey("rbac.Project", on_delete=models.PROTECT, related_name="allocations")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="allocations")
    gpu_count = models.PositiveSmallIntegerField()
    # Constraints on the GPUs placement may choose.
    gpu_model = models.CharField(max_length=200, blank=True, help_text="Substring of the GPU model, e.g. H100")
    min_memory_mib = models.PositiveIntegerField(null=True, blank=True)
    spread_allowed = models.BooleanField(default=False, help_text="May the GPUs come from several nodes?")
    cluster = models.ForeignKey("clusters.Cluster", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    partition = models.ForeignKey("clusters.Partition", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    nodes = models.ManyToManyField("nodes.Node", blank=True, related_name="+", help_text="Only these nodes")
    labels = models.JSONField(default=list, blank=True, help_text="GPU or node labels every GPU must carry")
    start = models.DateTimeField()
    end = models.DateTimeField()
    purpose = models.CharField(max_length=500, blank=True)
    state = models.CharField(max_length=10, choices=AllocationState.choices, default=AllocationState.PENDING,
                             db_index=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    # Why it waits for approval (the quota it exceeds), and the approver's answer.
    approval_reason = models.CharField(max_length=300, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decision_comment = models.CharField(max_length=500, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    # GPUs that failed during the allocation, each with a proposed replacement (placement).
    flags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    rbac_project_field = "project"
    # Project owners approve and reject their project's requests.
    rbac_project_owners_have_every_action = True

    class Meta:
        ordering = ["-start", "-id"]
        permissions = [("approve_allocation", "Can approve or reject allocation requests"),
                       ("cancel_allocation", "Can cancel or release allocations")]
        indexes = [models.Index(fields=["state", "end"], name="allocation_state_end")]
        constraints = [models.CheckConstraint(condition=models.Q(end__gt=models.F("start")),
                                              name="allocation_end_after_start"),
                       models.CheckConstraint(condition=models.Q(gpu_count__gte=1), name="allocation_gpus_positive")]

    def __str__(self):
        # No related names: brief API rows and event messages print it without a query.
        return f"allocation {self.pk} ({self.gpu_count} GPU{'s' if self.gpu_count != 1 else ''})"

    def get_absolute_url(self):
        return reverse("allocations:detail", args=[self.pk])

    @property
    def holds(self) -> bool:
        return self.state in HOLDING

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


class AllocationGpu(models.Model):
    allocation = models.ForeignKey(Allocation, on_delete=models.CASCADE, related_name="gpus")
    # A deleted GPU (or its node) leaves the booking as history without it.
    gpu = models.ForeignKey("gpus.Gpu", null=True, on_delete=models.SET_NULL, related_name="allocations")
    start = models.DateTimeField()
    end = models.DateTimeField()
    holds = models.BooleanField(default=True)

    rbac_project_field = "allocation__project"

    class Meta:
        verbose_name = "allocation GPU"
        ordering = ["allocation", "gpu"]
        indexes = [models.Index(fields=["gpu", "start", "end"], name="allocgpu_gpu_window",
                                condition=models.Q(holds=True))]

    def __str__(self):
        return f"{self.gpu_id} for allocation {self.allocation_id}"


class OverQuota(models.TextChoices):
    APPROVAL = "approval", "Needs approval"
    REFUSE = "refuse", "Refused"


class ProjectQuota(models.Model):
    """A project's GPU quotas. Without a row the Project's own gpu_quota / gpu_hours_quota apply
    and requests over them wait for approval."""

    project = models.OneToOneField("rbac.Project", on_delete=models.CASCADE, related_name="allocation_quota")
    concurrent_gpus = models.PositiveIntegerField(null=True, blank=True, help_text="GPUs held at once; empty: no limit")
    gpu_hours_per_month = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit")
    over_quota = models.CharField(max_length=8, choices=OverQuota.choices, default=OverQuota.APPROVAL)

    rbac_project_field = "project"

    def __str__(self):
        return f"quota of {self.project}"


from .models_binding import AllocationBinding, UserSshKey  # noqa: E402,F401  (fleet bindings, users' keys)
