"""Key vault serializers. `value` is write-only everywhere; responses carry metadata, the version
and an 8-character checksum prefix, never the value or the ciphertext (except the one reveal
response, which is not built from these serializers)."""
from rest_framework import serializers

from apps.core.api.lists import DetailUrlField, select
from apps.keyvault.models import OneTimeToken, Secret, SecretAccess, TokenRedemption
from apps.keyvault.services import MAX_VALUE_LENGTH
from apps.rbac.models import Project


class SecretSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="name", queryset=Project.objects.all(), required=False,
                                           allow_null=True)
    value = serializers.CharField(write_only=True, required=False, trim_whitespace=False,
                                  max_length=MAX_VALUE_LENGTH, style={"input_type": "password"},
                                  help_text="The secret value. Accepted on create and update, never returned.")
    checksum_prefix = serializers.CharField(read_only=True)
    is_expired = serializers.BooleanField(read_only=True)
    destinations = serializers.ListField(
        child=serializers.CharField(max_length=253), max_length=64, required=False,
        help_text="CIDRs and host names the value may be sent to (default: AIMATRIX_SECRET_DEFAULT_DESTINATIONS)")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    updated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    eager = {"project": select("project"), "created_by": select("created_by"), "updated_by": select("updated_by")}

    class Meta:
        model = Secret
        fields = ["id", "name", "kind", "description", "project", "value", "version", "checksum_prefix",
                  "destinations", "expires_at", "is_expired", "created_by", "updated_by", "created_at", "updated_at"]
        read_only_fields = ["version", "created_at", "updated_at"]
        # Uniqueness and the name pattern are checked by the service (one rule for API and admin).
        extra_kwargs = {"name": {"validators": []}}

    def validate(self, attrs):
        if self.instance is None and not attrs.get("value"):
            raise serializers.ValidationError({"value": ["This field is required."]})
        return attrs


class SecretListSerializer(serializers.ModelSerializer):
    """A row of the secret list: what it is and whose; description, destinations and authors are on
    the detail."""

    url = DetailUrlField("api:secret-detail")
    project = serializers.SlugRelatedField(slug_field="name", read_only=True)
    checksum_prefix = serializers.CharField(read_only=True)
    is_expired = serializers.BooleanField(read_only=True)
    eager = {"project": select("project")}
    deferred = ("ciphertext", "description", "destinations")  # never shown; not read for a list

    class Meta:
        model = Secret
        fields = ["id", "url", "name", "kind", "project", "version", "checksum_prefix", "expires_at", "is_expired",
                  "updated_at"]
        read_only_fields = fields


class SecretAccessSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)
    eager = {"actor": select("actor")}

    class Meta:
        model = SecretAccess
        fields = ["id", "secret", "secret_name", "kind", "actor", "actor_repr", "purpose", "version", "ip",
                  "request_id", "timestamp"]
        read_only_fields = fields


class RevealSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200)


class OneTimeTokenSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    revoked_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    status = serializers.CharField(read_only=True)
    eager = {"created_by": select("created_by"), "revoked_by": select("revoked_by")}

    class Meta:
        model = OneTimeToken
        fields = ["id", "purpose", "subject", "token_prefix", "status", "bind_ip", "created_by", "created_at",
                  "expires_at", "consumed_at", "consumed_by_ip", "revoked", "revoked_at", "revoked_by"]
        read_only_fields = fields


class TokenIssueSerializer(serializers.Serializer):
    """Shape only; the purpose, subject and TTL range are checked by the service."""

    purpose = serializers.CharField(max_length=32)
    subject = serializers.CharField(max_length=200)
    ttl = serializers.IntegerField(required=False, allow_null=True)
    bind_ip = serializers.IPAddressField(required=False, allow_null=True, allow_blank=True)


class TokenIssuedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    token = serializers.CharField(help_text="Shown only in this response; only its hash is stored.")
    token_prefix = serializers.CharField()
    purpose = serializers.CharField()
    subject = serializers.CharField()
    expires_at = serializers.DateTimeField()
    bind_ip = serializers.IPAddressField(allow_null=True)


class RedeemSerializer(serializers.Serializer):
    token = serializers.CharField()
    timestamp = serializers.FloatField(help_text="The client's current time, unix seconds")


class TokenRedemptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = TokenRedemption
        fields = ["id", "token", "outcome", "ip", "request_id", "detail", "timestamp"]
        read_only_fields = fields
