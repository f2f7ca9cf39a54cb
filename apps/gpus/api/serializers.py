import datetime as dt

from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from apps.core.api.lists import DetailUrlField, select
from apps.gpus.models import Gpu, GpuEvent, GpuHealth
from apps.gpus.series import Layout
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
    layout = serializers.ChoiceField(required=False, choices=[layout.value for layout in Layout],
                                     help_text="points: one object per point; columns: one array per figure "
                                               "(time = origin + k * step), what the charts read")

    def window(self):
        """(start, end, step, layout) with the defaults: the last hour, about 300 points, points."""
        data = self.validated_data
        try:  # in UTC: PostgreSQL refuses offsets beyond 15:59
            end = (data.get("end") or timezone.now()).astimezone(dt.timezone.utc)
            start = (data.get("start") or end - dt.timedelta(hours=1)).astimezone(dt.timezone.utc)
        except OverflowError:
            raise ValidationError({"start": ["Out of range."]}) from None
        step = data.get("step") or max(5.0, (end - start).total_seconds() / 300)
        return start, end, step, Layout(data.get("layout") or Layout.POINTS)


class TelemetryPush(serializers.Serializer):
    """Only the routing fields; the record itself is checked by apps/gpus/record.py."""

    node = serializers.CharField(max_length=63, required=False,
                                 help_text="id or name of the node (users only; an agent's node is its credential's)")
