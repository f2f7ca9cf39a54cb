from rest_framework import serializers

from apps.core.api.lists import DetailUrlField, select
from apps.gpus.models import Gpu, GpuEvent, GpuHealth
from apps.nodes.validators import validate_labels


class GpuListSerializer(serializers.ModelSerializer):
    """A row of the GPU list: inventory, health and the newest reading; no events."""

    url = DetailUrlField("api:gpu-detail")
    node = serializers.SlugRelatedField(slug_field="name", read_only=True)

    eager = {"node": select("node")}

    class Meta:
        model = Gpu
        fields = ["id", "url", "node", "node_id", "index", "uuid", "model", "memory_total_mib", "mig_mode", "health",
                  "health_reason", "labels", "present", "last_seen", "last_sample", "last_sample_at"]
        read_only_fields = fields


class GpuSerializer(serializers.ModelSerializer):
    """Read everything; write labels, and health (maintenance with a reason, or back to ok)."""

    node = serializers.SlugRelatedField(slug_field="name", read_only=True)
    health = serializers.ChoiceField(choices=GpuHealth.choices, required=False)
    health_reason = serializers.CharField(max_length=300, required=False, allow_blank=True)
    labels = serializers.JSONField(required=False, validators=[validate_labels])

    eager = {"node": select("node")}

    class Meta:
        model = Gpu
        fields = ["id", "node", "node_id", "index", "uuid", "model", "memory_total_mib", "driver_version",
                  "cuda_version", "pci_bus_id", "mig_mode", "mig_devices", "power_limit_w", "health", "health_reason",
                  "health_changed_at", "labels", "present", "last_seen", "last_sample", "last_sample_at",
                  "thermal_throttle_since", "created_at", "updated_at"]
        read_only_fields = [f for f in fields if f not in ("health", "health_reason", "labels")]


class GpuEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = GpuEvent
        fields = ["id", "ts", "kind", "xid", "message", "data"]


class MetricsParams(serializers.Serializer):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
    step = serializers.FloatField(required=False, min_value=1, max_value=7 * 86400)


class TelemetryPush(serializers.Serializer):
    """Only the routing fields; the record itself is checked by apps/gpus/record.py."""

    node = serializers.CharField(max_length=63, required=False,
                                 help_text="id or name of the node (users only; an agent's node is its credential's)")
