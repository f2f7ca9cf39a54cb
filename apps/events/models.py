"""Events (what happened), event rules (who is told, how) and alerts (metric thresholds).

An Event names its object by content type + id + repr, so any app's row can be the subject
without this app importing it; `project` and `labels` are copied at publish time so rules and
permissions never have to reach back into the object (which may be gone by then).
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


class EventType(models.TextChoices):
    HARDWARE_DISCOVERED = "hardware.discovered", "Hardware discovered"
    GPU_HEALTH_CHANGED = "gpu.health_changed", "GPU health changed"
    NODE_HEALTH_CHANGED = "node.health_changed", "Node health changed"
    POWER_CHANGED = "node.power_changed", "Power changed"
    ALERT_FIRING = "alert.firing", "Alert firing"
    ALERT_RESOLVED = "alert.resolved", "Alert resolved"
    CONFIGURATION_CHANGED = "configuration.changed", "Configuration changed"
    JOB_FINISHED = "job.finished", "Job finished"
    SLURM_JOB_GPUS_IDLE = "slurm.job_gpus_idle", "Slurm job holds idle GPUs"
    ALLOCATION_CHANGED = "allocation.changed", "Allocation state changed"
    ALLOCATION_ENDING = "allocation.ending", "Allocation ends soon"
    ALLOCATION_GPU_FAILED = "allocation.gpu_failed", "Allocated GPU failed"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"

    @classmethod
    def rank(cls, value: str) -> int:
        return {cls.INFO: 0, cls.WARNING: 1, cls.CRITICAL: 2}.get(value, 0)


class Event(models.Model):
    type = models.CharField(max_length=32, choices=EventType.choices, db_index=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.INFO)
    object_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    object = GenericForeignKey("object_type", "object_id")
    project = models.ForeignKey("rbac.Project", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    labels = models.JSONField(default=list, blank=True)
    message = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    timestamp = models.DateTimeField(db_index=True)
    # Set once rule matching ran; the sweep re-queues events whose matching task was lost.
    dispatched_at = models.DateTimeField(null=True, blank=True)

    rbac_project_field = "project"

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "-timestamp"], name="event_object_ts"),
                   models.Index(fields=["id"], condition=models.Q(dispatched_at__isnull=True),
                                name="event_undispatched")]

    def __str__(self):
        return f"{self.get_type_display()}: {self.message}"


class EventRule(models.Model):
    """Which events (types, object types, labels, project, minimum severity) go where (a webhook
    and/or e-mail recipients). Empty filters match everything."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    event_types = models.JSONField(default=list, blank=True, help_text="event types; empty: all")
    object_types = models.JSONField(default=list, blank=True, help_text='"app.model" names; empty: all')
    labels = models.JSONField(default=list, blank=True, help_text="the object carries any of them; empty: any")
    project = models.ForeignKey("rbac.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                                help_text="only events of this project; empty: every project")
    min_severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.INFO)
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret = models.ForeignKey("keyvault.Secret", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+", help_text="signs the body (HMAC-SHA256)")
    email_recipients = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    rbac_project_field = "project"

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event sent to one rule's webhook; `attempts` is its log: [{n, at, status_code,
    duration_ms, error}], oldest first."""

    rule = models.ForeignKey(EventRule, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    url = models.CharField(max_length=500)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING,
                             db_index=True)
    attempts = models.JSONField(default=list, blank=True)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    rbac_project_field = "event__project"

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["rule", "event"], name="webhookdelivery_rule_event")]

    def __str__(self):
        return f"delivery {self.pk} of event {self.event_id} to {self.url}: {self.state}"  # no joins (brief lists)


class Comparison(models.TextChoices):
    GT = ">", ">"
    GE = ">=", ">="
    LT = "<", "<"
    LE = "<=", "<="


class AlertScope(models.TextChoices):
    ALL = "all", "All"
    NODE = "node", "One node"
    LABEL = "label", "Label"
    PROJECT = "project", "Project"


class AlertRule(models.Model):
    """metric <comparison> threshold, held for `for_seconds`, within a scope. `metric` names a
    source in the metric registry (apps/events/metrics.py), filled by the apps that own samples."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    metric = models.CharField(max_length=64)
    comparison = models.CharField(max_length=2, choices=Comparison.choices, default=Comparison.GT)
    threshold = models.FloatField()
    for_seconds = models.PositiveIntegerField(default=300, help_text="the condition holds this long before firing")
    window_seconds = models.PositiveIntegerField(default=3600, help_text="the period a rate metric is computed over")
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    scope = models.CharField(max_length=10, choices=AlertScope.choices, default=AlertScope.ALL)
    scope_value = models.CharField(max_length=200, blank=True, help_text="node name or label (scope node/label)")
    project = models.ForeignKey("rbac.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                                help_text="scope project: objects of this project")
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    rbac_project_field = "project"

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name}: {self.metric} {self.comparison} {self.threshold:g}"

    def crosses(self, value: float) -> bool:
        return {">": value > self.threshold, ">=": value >= self.threshold,
                "<": value < self.threshold, "<=": value <= self.threshold}[self.comparison]


class AlertState(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class Alert(models.Model):
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    object_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    object = GenericForeignKey("object_type", "object_id")
    project = models.ForeignKey("rbac.Project", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    state = models.CharField(max_length=10, choices=AlertState.choices, default=AlertState.FIRING, db_index=True)
    value = models.FloatField(null=True, blank=True, help_text="the value that fired it")
    last_value = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField(db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    acked_at = models.DateTimeField(null=True, blank=True)
    silenced_until = models.DateTimeField(null=True, blank=True)

    rbac_project_field = "project"

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # One firing alert per rule and object; resolved ones are history.
            models.UniqueConstraint(fields=["rule", "object_type", "object_id"],
                                    condition=models.Q(state="firing"), name="alert_one_firing"),
        ]
        permissions = [("ack_alert", "Can acknowledge and silence alerts")]

    def __str__(self):
        return f"alert {self.pk} on {self.object_repr or 'fleet'}: {self.state}"  # no joins (brief lists)

    def silenced_at(self, when) -> bool:
        return self.silenced_until is not None and self.silenced_until > when
