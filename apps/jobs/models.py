"""Job: every long operation, its state and result. JobEvent: its persisted, ordered log."""
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"

    @classmethod
    def active(cls):
        return [cls.QUEUED, cls.RUNNING]

    @classmethod
    def finished(cls):
        return [cls.SUCCEEDED, cls.FAILED, cls.CANCELLED]


class EventKind(models.TextChoices):
    STATUS = "status", "Status"
    STEP = "step", "Step"
    LOG = "log", "Log"
    PROGRESS = "progress", "Progress"
    HOST = "host", "Host result"
    RESULT = "result", "Result"
    ERROR = "error", "Error"


class Job(models.Model):
    kind = models.CharField(max_length=100, db_index=True)
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    params = models.JSONField(default=dict, blank=True)
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    target_id = models.CharField(max_length=64, blank=True)
    target = GenericForeignKey("target_type", "target_id")
    target_repr = models.CharField(max_length=200, blank=True)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    progress = models.PositiveSmallIntegerField(default=0)
    current_step = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    queue = models.CharField(max_length=32, default="default")
    celery_task_id = models.CharField(max_length=64, blank=True, db_index=True)
    worker = models.CharField(max_length=200, blank=True)
    cancel_requested = models.BooleanField(default=False)
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    # Last sequence number handed to an event of this job; bumped atomically with each insert.
    event_seq = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]
        permissions = [
            ("run_selfcheck", "Can run the system self-check"),
            ("run_diagnostics", "Can run diagnostic load jobs"),
            ("cancel_job", "Can cancel any job"),
        ]

    # apps.rbac.permissions: requesters always reach their own jobs.
    rbac_owner_field = "requester"

    def __str__(self):
        return f"Job {self.pk} {self.kind} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in JobStatus.active()

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class JobEvent(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    timestamp = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    message = models.TextField(blank=True)
    host = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="jobevent_unique_seq")]

    def __str__(self):
        return f"{self.job_id}#{self.seq} {self.kind}: {self.message[:60]}"

    def as_message(self) -> dict:
        return {
            "seq": self.seq,
            "ts": self.timestamp.isoformat(),
            "kind": self.kind,
            "message": self.message,
            "host": self.host,
            "data": self.data,
        }
