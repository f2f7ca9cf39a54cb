from rest_framework import serializers

from apps.core.api.lists import detail_path, select
from apps.jobs.models import Job, JobEvent


class JobSerializer(serializers.ModelSerializer):
    eager = {"requester": select("requester"), "target_type": select("target_type")}
    requester = serializers.SlugRelatedField(slug_field="username", read_only=True)
    target_type = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    websocket = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["id", "url", "page_url", "websocket", "kind", "status", "params", "target_type", "target_id",
                  "target_repr", "requester", "progress", "current_step", "error", "result", "queue",
                  "celery_task_id", "worker", "cancel_requested", "retry_of", "created_at", "started_at",
                  "finished_at", "heartbeat_at", "event_seq"]
        read_only_fields = fields

    def get_target_type(self, obj) -> str | None:
        return f"{obj.target_type.app_label}.{obj.target_type.model}" if obj.target_type_id else None

    def get_url(self, obj) -> str:
        return detail_path(self, "api:job-detail", obj.pk)

    def get_page_url(self, obj) -> str:
        return detail_path(self.fields["page_url"], "jobs:detail", obj.pk)

    def get_websocket(self, obj) -> str:
        return f"/ws/jobs/{obj.pk}/"


class JobListSerializer(JobSerializer):
    """A row of the job list: status and progress; parameters, results and worker details are on the
    detail."""

    deferred = ("params", "result")  # free-form JSON, shown on the detail

    class Meta(JobSerializer.Meta):
        fields = ["id", "url", "page_url", "websocket", "kind", "status", "target_type", "target_id", "target_repr",
                  "requester", "progress", "current_step", "error", "retry_of", "created_at", "started_at",
                  "finished_at"]
        read_only_fields = fields


class JobStartSerializer(serializers.Serializer):
    """Shape check only; the kind and its parameters are validated by the jobs service."""

    kind = serializers.CharField(max_length=100)
    params = serializers.JSONField(required=False, default=dict)


class JobEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobEvent
        fields = ["seq", "timestamp", "kind", "message", "host", "data"]
