from rest_framework import serializers

from apps.core.api.lists import DetailUrlField, select
from apps.events.models import Alert, AlertRule, Event, EventRule, EventType, WebhookDelivery
from apps.keyvault.models import Secret
from apps.rbac.models import Project


def _type_label(ct) -> str | None:
    return f"{ct.app_label}.{ct.model}" if ct else None


class EventSerializer(serializers.ModelSerializer):
    url = DetailUrlField("api:event-detail")
    object_type = serializers.SerializerMethodField()
    project = serializers.SlugRelatedField(slug_field="name", read_only=True)

    eager = {"object_type": select("object_type"), "project": select("project")}

    class Meta:
        model = Event
        fields = ["id", "url", "type", "severity", "timestamp", "message", "object_type", "object_id",
                  "object_repr", "project", "labels", "data"]
        read_only_fields = fields

    def get_object_type(self, obj) -> str | None:
        return _type_label(obj.object_type) if obj.object_type_id else None


class EventListSerializer(EventSerializer):
    deferred = ("data",)  # the detail carries it (or ?expand=data)

    class Meta(EventSerializer.Meta):
        fields = [f for f in EventSerializer.Meta.fields if f != "data"]


class EventRuleSerializer(serializers.ModelSerializer):
    url = DetailUrlField("api:eventrule-detail")
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices), required=False,
                                        max_length=20)
    object_types = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=50)
    labels = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=50)
    email_recipients = serializers.ListField(child=serializers.EmailField(max_length=254), required=False,
                                             max_length=50)
    project = serializers.SlugRelatedField(slug_field="name", queryset=Project.objects.all(), required=False,
                                           allow_null=True)
    webhook_secret = serializers.SlugRelatedField(slug_field="name", queryset=Secret.objects.all(), required=False,
                                                  allow_null=True, help_text="a key vault secret of kind webhook_secret")

    eager = {"project": select("project"), "webhook_secret": select("webhook_secret")}

    class Meta:
        model = EventRule
        fields = ["id", "url", "name", "enabled", "event_types", "object_types", "labels", "project", "min_severity",
                  "webhook_url", "webhook_secret", "email_recipients", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    url = DetailUrlField("api:webhookdelivery-detail")
    rule = serializers.SlugRelatedField(slug_field="name", read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    target = serializers.CharField(source="url", read_only=True)

    eager = {"rule": select("rule"), "event_type": select("event")}

    class Meta:
        model = WebhookDelivery
        fields = ["id", "url", "rule", "event", "event_type", "target", "state", "attempt_count", "last_status_code",
                  "attempts", "next_attempt_at", "created_at", "finished_at"]
        read_only_fields = fields


class WebhookDeliveryListSerializer(WebhookDeliverySerializer):
    deferred = ("attempts",)

    class Meta(WebhookDeliverySerializer.Meta):
        fields = [f for f in WebhookDeliverySerializer.Meta.fields if f != "attempts"]


class AlertRuleSerializer(serializers.ModelSerializer):
    url = DetailUrlField("api:alertrule-detail")
    project = serializers.SlugRelatedField(slug_field="name", queryset=Project.objects.all(), required=False,
                                           allow_null=True)

    eager = {"project": select("project")}

    class Meta:
        model = AlertRule
        fields = ["id", "url", "name", "enabled", "metric", "comparison", "threshold", "for_seconds", "window_seconds",
                  "severity", "scope", "scope_value", "project", "description", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class AlertSerializer(serializers.ModelSerializer):
    url = DetailUrlField("api:alert-detail")
    rule = serializers.SlugRelatedField(slug_field="name", read_only=True)
    metric = serializers.CharField(source="rule.metric", read_only=True)
    severity = serializers.CharField(source="rule.severity", read_only=True)
    object_type = serializers.SerializerMethodField()
    project = serializers.SlugRelatedField(slug_field="name", read_only=True)
    acked_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    eager = {"rule": select("rule"), "metric": select("rule"), "severity": select("rule"),
             "object_type": select("object_type"), "project": select("project"), "acked_by": select("acked_by")}

    class Meta:
        model = Alert
        fields = ["id", "url", "rule", "metric", "severity", "state", "object_type", "object_id", "object_repr",
                  "project", "value", "last_value", "started_at", "resolved_at", "acked_by", "acked_at",
                  "silenced_until"]
        read_only_fields = fields

    def get_object_type(self, obj) -> str | None:
        return _type_label(obj.object_type) if obj.object_type_id else None


class SilenceSerializer(serializers.Serializer):
    seconds = serializers.IntegerField(min_value=0, required=False, help_text="0 lifts the silence")
    until = serializers.DateTimeField(required=False)

    def validate(self, attrs):
        if ("seconds" in attrs) == ("until" in attrs):
            raise serializers.ValidationError({"seconds": ["Give either seconds or until."]})
        return attrs
