"""Serializers of Slurm jobs, the submit request and job templates."""
from rest_framework import serializers

from apps.core.api.lists import DetailUrlField, select
from apps.rbac.models import Project

from ..models import Cluster, JobTemplate, SlurmJob
from ..slurm.backend import MAX_SCRIPT_BYTES
from ..slurm.records import JobAction

SCRIPT_MAX_CHARS = MAX_SCRIPT_BYTES


class SlurmJobListSerializer(serializers.ModelSerializer):
    """A queue row: what the list shows (no script, no efficiency)."""

    url = DetailUrlField("api:slurmjob-detail")
    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True)
    project = serializers.SlugRelatedField(slug_field="name", read_only=True)
    submitted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    eager = {"cluster": select("cluster"), "project": select("project"), "submitted_by": select("submitted_by")}
    deferred = ("script", "gpu_efficiency")

    class Meta:
        model = SlurmJob
        fields = ["id", "url", "cluster", "job_id", "name", "user", "account", "partition", "qos", "state", "reason",
                  "exit_code", "nodes", "num_nodes", "cpus", "memory_mb", "gpus", "gpu_indexes", "time_limit_min",
                  "submitted_at", "started_at", "ended_at", "submitted_by", "project", "synced_at"]
        read_only_fields = fields


class SlurmJobSerializer(SlurmJobListSerializer):
    """Detail: also the script (jobs submitted through the portal), the output path and the
    GPU efficiency (stored for finished jobs, live for running ones)."""

    gpu_efficiency = serializers.SerializerMethodField()

    class Meta(SlurmJobListSerializer.Meta):
        fields = SlurmJobListSerializer.Meta.fields + ["stdout_path", "work_dir", "script", "gpu_efficiency"]
        read_only_fields = fields

    def get_gpu_efficiency(self, job) -> dict:
        from ..efficiency import efficiency

        return efficiency(job)


class SubmitSerializer(serializers.Serializer):
    """A job to submit; with `template`, the template's values fill what is not given."""

    template = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    name = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    partition = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    account = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    qos = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    nodes = serializers.IntegerField(min_value=1, max_value=10_000, required=False)
    cpus = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    memory_mb = serializers.IntegerField(min_value=1, max_value=1 << 40, required=False, allow_null=True)
    time_limit_min = serializers.IntegerField(min_value=1, max_value=10**7, required=False, allow_null=True)
    gpus = serializers.IntegerField(min_value=0, max_value=1024, required=False, help_text="GPUs per node.")
    script = serializers.CharField(max_length=SCRIPT_MAX_CHARS, required=False, trim_whitespace=False,
                                   help_text="The batch script (starts with #!); sent to sbatch on stdin.")
    work_dir = serializers.CharField(max_length=1024, required=False, allow_blank=True, default="")

    def validate(self, data):
        if not data.get("template") and not data.get("script"):
            raise serializers.ValidationError({"script": ["A batch script (or a template) is required."]})
        return data


class JobActionSerializer(serializers.Serializer):
    signal = serializers.CharField(max_length=12, required=False, allow_blank=True, default="",
                                   help_text="For signal: TERM, USR1, 15...")


ACTIONS = [a.value for a in JobAction]


class OutputQuerySerializer(serializers.Serializer):
    offset = serializers.IntegerField(min_value=0, max_value=1 << 50, required=False)
    max_bytes = serializers.IntegerField(min_value=1, max_value=1 << 20, required=False)


class HistoryQuerySerializer(serializers.Serializer):
    start = serializers.CharField(max_length=40, required=False, allow_blank=True)
    end = serializers.CharField(max_length=40, required=False, allow_blank=True)
    user = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    account = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class JobTemplateSerializer(serializers.ModelSerializer):
    url = DetailUrlField("api:jobtemplate-detail")
    project = serializers.SlugRelatedField(slug_field="name", queryset=Project.objects.all(), required=False,
                                           allow_null=True)
    cluster = serializers.SlugRelatedField(slug_field="name", queryset=Cluster.objects.all(), required=False,
                                           allow_null=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    script = serializers.CharField(max_length=SCRIPT_MAX_CHARS, trim_whitespace=False)

    eager = {"project": select("project"), "cluster": select("cluster"), "owner": select("owner")}

    class Meta:
        model = JobTemplate
        fields = ["id", "url", "name", "description", "project", "cluster", "owner", "partition", "account", "nodes",
                  "cpus", "memory_mb", "gpus", "time_limit_min", "script", "created_at"]
        read_only_fields = ["id", "url", "owner", "created_at"]
        validators = []  # (project, name) is unique: the service answers 400 naming `name`


class JobTemplateListSerializer(JobTemplateSerializer):
    deferred = ("script",)

    class Meta(JobTemplateSerializer.Meta):
        fields = [f for f in JobTemplateSerializer.Meta.fields if f != "script"]
        read_only_fields = fields
