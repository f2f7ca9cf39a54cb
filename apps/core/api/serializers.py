from rest_framework import serializers

from apps.core.models import AuditEvent

from .lists import select


class AuditEventSerializer(serializers.ModelSerializer):
    object_type = serializers.SerializerMethodField()
    eager = {"object_type": select("object_type")}

    class Meta:
        model = AuditEvent
        fields = ["id", "timestamp", "actor", "actor_repr", "action", "object_type", "object_id",
                  "object_repr", "changes", "ip", "request_id"]

    def get_object_type(self, obj) -> str | None:
        return f"{obj.object_type.app_label}.{obj.object_type.model}" if obj.object_type_id else None
