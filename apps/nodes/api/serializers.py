from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from apps.core.api.lists import DetailUrlField, prefetch, select
from apps.keyvault.models import Secret
from apps.nodes.models import Bmc, BmcDriver, HostKey, Node, NodeEvent
from apps.nodes.validators import bmc_host
from apps.rbac.models import Project


class HostKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = HostKey
        fields = ["id", "key_type", "fingerprint", "state", "first_seen", "decided_at"]


class BmcSerializer(serializers.ModelSerializer):
    credential = serializers.SlugRelatedField(slug_field="name", queryset=Secret.objects.all())

    class Meta:
        model = Bmc
        fields = ["driver", "address", "port", "credential", "system_id", "verify_tls", "power_state", "health",
                  "polled_at", "poll_error"]
        read_only_fields = ["power_state", "health", "polled_at", "poll_error"]


class NodeListSerializer(serializers.ModelSerializer):
    """A row of the node list: what the list page shows, with one join per named relation (no host
    keys, no BMC credential, no facts: the detail, or ?expand=bmc,host_keys,facts)."""

    url = DetailUrlField("api:node-detail")
    project = serializers.SlugRelatedField(slug_field="name", read_only=True)
    ssh_credential = serializers.SlugRelatedField(slug_field="name", read_only=True)
    bmc_driver = serializers.CharField(source="bmc.driver", read_only=True, default=None)
    power_state = serializers.CharField(source="bmc.power_state", read_only=True, default=None)

    eager = {"project": select("project"), "ssh_credential": select("ssh_credential"),
             "bmc_driver": select("bmc"), "power_state": select("bmc")}
    deferred = ("facts",)  # the largest column by far; halves the time to read a page of 100

    class Meta:
        model = Node
        fields = ["id", "url", "name", "address", "ssh_port", "ssh_user", "ssh_credential", "labels", "project",
                  "state", "state_reason", "last_seen", "bmc_driver", "power_state", "created_at", "updated_at"]
        read_only_fields = fields


class NodeSerializer(serializers.ModelSerializer):
    """Read and write. Secrets and projects are referenced by name; a secret's value never appears."""

    eager = {"project": select("project"), "ssh_credential": select("ssh_credential"),
             "bmc": select("bmc__credential"), "host_keys": prefetch("host_keys")}

    project = serializers.SlugRelatedField(slug_field="name", queryset=Project.objects.all(), required=False,
                                           allow_null=True)
    ssh_credential = serializers.SlugRelatedField(slug_field="name", queryset=Secret.objects.all(), required=False,
                                                  allow_null=True)
    host_keys = HostKeySerializer(many=True, read_only=True)
    bmc = BmcSerializer(read_only=True)
    known_host_keys = serializers.ListField(
        child=serializers.CharField(max_length=16384), write_only=True, required=False,
        help_text='trusted at once, as in known_hosts without the host: "ssh-ed25519 AAAA..."')

    class Meta:
        model = Node
        fields = ["id", "name", "address", "ssh_port", "ssh_user", "ssh_credential", "labels", "project", "state",
                  "state_reason", "last_seen", "facts", "facts_updated_at", "host_keys", "bmc", "known_host_keys",
                  "created_at", "updated_at"]
        read_only_fields = ["state_reason", "last_seen", "facts", "facts_updated_at", "created_at", "updated_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only secrets and projects the user may see can be named (no existence probing by name).
        user = getattr(self.context.get("request"), "user", None) or self.context.get("user")
        if user is not None:
            from apps.rbac.permissions import restrict

            self.fields["project"].queryset = restrict(Project.objects.all(), user, "view")
            self.fields["ssh_credential"].queryset = restrict(Secret.objects.all(), user, "view")

    def validate_known_host_keys(self, value):
        keys = []
        for line in value:
            parts = line.split()
            if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
                raise serializers.ValidationError(f"Not a public key line: {line[:40]!r}")
            keys.append((parts[0], parts[1]))
        return keys


class BmcWriteSerializer(serializers.Serializer):
    driver = serializers.ChoiceField(choices=BmcDriver.choices)
    address = serializers.CharField(max_length=300)
    port = serializers.IntegerField(min_value=1, max_value=65535, required=False, allow_null=True)
    credential = serializers.CharField(max_length=200)
    system_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    verify_tls = serializers.BooleanField(default=True)

    def validate(self, attrs):
        try:
            bmc_host(attrs["driver"], attrs["address"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"address": exc.messages}) from None
        return attrs


class NodeEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = NodeEvent
        fields = ["id", "timestamp", "kind", "message", "data"]
