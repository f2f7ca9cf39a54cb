from rest_framework import serializers

from apps.core.api.lists import DetailUrlField, select
from apps.nodes.models import Node
from apps.rbac.models import Project
from apps.rbac.permissions import restrict

from ..models import Cluster, ClusterKind, ClusterNode, Partition
from ..validators import validate_cluster_name, validate_gres_file_pattern


class NodeChoice(serializers.Field):
    """A node by id (number) or name (text) among those the user may run jobs on."""

    default_error_messages = {"invalid": "A node id (number) or node name.",
                              "unknown": "Unknown node, or one you may not use."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, str)) or (isinstance(data, str) and (
                not data or len(data) > 63)):
            self.fail("invalid")
        user = self.context["request"].user
        nodes = restrict(Node.objects.select_related("ssh_credential"), user, "use")
        key = {"pk": int(data)} if isinstance(data, int) or str(data).isdigit() else {"name": data}
        node = nodes.filter(**key).first()
        if node is None:
            self.fail("unknown")
        return node

    def to_representation(self, value):
        return value.name if value else None


class ClusterListSerializer(serializers.ModelSerializer):
    url = DetailUrlField("api:cluster-detail")
    controller = serializers.SlugRelatedField(slug_field="name", read_only=True)
    login_node = serializers.SlugRelatedField(slug_field="name", read_only=True)
    project = serializers.SlugRelatedField(slug_field="name", read_only=True)

    eager = {"controller": select("controller"), "login_node": select("login_node"), "project": select("project")}

    class Meta:
        model = Cluster
        fields = ["id", "url", "name", "kind", "description", "controller", "login_node", "project", "status",
                  "status_reason", "slurm_version", "slurm_cluster_name", "reuse_config", "reuse_munge",
                  "reuse_database", "summary", "discovered_at", "synced_at", "created_at"]
        read_only_fields = fields


class ClusterSerializer(ClusterListSerializer):
    """Detail; PATCH changes the description, project, login node and the managed-cluster settings."""

    slurmd_restart_command = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=20, required=False,
        help_text="argv the health job runs on a node's own host to restart slurmd (empty: sudo -n systemctl "
                  "restart slurmd).")

    login_node = NodeChoice(required=False, allow_null=True)
    project = serializers.SlugRelatedField(slug_field="name", queryset=Project.objects.all(), required=False,
                                           allow_null=True)

    class Meta(ClusterListSerializer.Meta):
        fields = ClusterListSerializer.Meta.fields + ["conf_path", "base_config_path", "restart_command",
                                                      "slurmd_restart_command", "gres_file_pattern", "config_snapshot"]
        read_only_fields = [f for f in fields if f not in ("description", "login_node", "project", "conf_path",
                                                           "base_config_path", "restart_command",
                                                           "slurmd_restart_command", "gres_file_pattern")]


class TestConnectionSerializer(serializers.Serializer):
    controller = NodeChoice(help_text="The node slurmctld runs on (id or name; registered with a credential "
                                      "and a trusted host key).")
    login_node = NodeChoice(required=False, allow_null=True)


class ConnectSerializer(TestConnectionSerializer):
    name = serializers.CharField(max_length=40, validators=[validate_cluster_name])
    kind = serializers.ChoiceField(choices=ClusterKind.choices, default=ClusterKind.EXTERNAL)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    project = serializers.SlugRelatedField(slug_field="name", queryset=Project.objects.all(), required=False,
                                           allow_null=True)
    reuse_config = serializers.BooleanField(default=True)
    reuse_munge = serializers.BooleanField(default=True)
    reuse_database = serializers.BooleanField(default=True)
    conf_path = serializers.CharField(max_length=300, required=False)
    base_config_path = serializers.CharField(max_length=300, required=False, allow_blank=True)
    restart_command = serializers.ListField(child=serializers.CharField(max_length=200), max_length=20,
                                            required=False)
    gres_file_pattern = serializers.CharField(max_length=300, required=False, validators=[validate_gres_file_pattern],
                                              help_text="gres.conf File= of each GPU ({index}, optionally {node}); "
                                                        "default /dev/nvidia{index}.")

    def validate_name(self, value):
        if Cluster.objects.filter(name=value).exists():
            raise serializers.ValidationError(f"A cluster named {value} exists already.")
        return value


class PartitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Partition
        fields = ["id", "name", "nodes", "is_default", "max_time", "state", "allow_accounts", "allow_qos", "options",
                  "managed"]


class ClusterNodeSerializer(serializers.ModelSerializer):
    node = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = ClusterNode
        fields = ["id", "slurm_name", "node", "address", "cpus", "sockets", "cores_per_socket", "threads_per_core",
                  "real_memory_mb", "gres", "gpu_count", "features", "state", "reason", "drained_by_portal",
                  "alloc_cpus", "alloc_gpus", "managed", "updated_at"]
        read_only_fields = fields
