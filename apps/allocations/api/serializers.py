from rest_framework import serializers

from apps.clusters.models import Cluster, Partition
from apps.core.api.lists import DetailUrlField, prefetch, select
from apps.nodes.models import Node
from apps.rbac.models import Project
from apps.rbac.permissions import restrict

from ..models import Allocation, AllocationGpu
from ..availability import usable_nodes
from .fleet_serializers import AllocationBindingSerializer
from ..services import MAX_GPUS, MAX_LABELS, MAX_NODES, user_by_id_or_name


class AllocationListSerializer(serializers.ModelSerializer):
    url = DetailUrlField("api:allocation-detail")
    project = serializers.SlugRelatedField(slug_field="name", read_only=True)
    requester = serializers.SlugRelatedField(slug_field="username", read_only=True)

    eager = {"project": select("project"), "requester": select("requester")}

    class Meta:
        model = Allocation
        fields = ["id", "url", "project", "requester", "gpu_count", "gpu_model", "state", "start", "end", "purpose",
                  "approval_reason", "created_at"]
        read_only_fields = fields


class AllocationGpuSerializer(serializers.ModelSerializer):
    node = serializers.CharField(source="gpu.node.name", read_only=True)
    index = serializers.IntegerField(source="gpu.index", read_only=True)
    uuid = serializers.CharField(source="gpu.uuid", read_only=True)
    model = serializers.CharField(source="gpu.model", read_only=True)

    class Meta:
        model = AllocationGpu
        fields = ["gpu", "node", "index", "uuid", "model", "start", "end", "holds"]
        read_only_fields = fields


class AllocationSerializer(AllocationListSerializer):
    gpus = AllocationGpuSerializer(many=True, read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    nodes = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    # Fleet bindings (Slurm reservation, SSH access) and usage so far (apps.allocations.usage).
    bindings = AllocationBindingSerializer(many=True, read_only=True)
    usage = serializers.SerializerMethodField()

    eager = {**AllocationListSerializer.eager, "decided_by": select("decided_by"), "nodes": prefetch("nodes"),
             "gpus": prefetch("gpus__gpu__node"), "bindings": prefetch("bindings")}

    class Meta(AllocationListSerializer.Meta):
        fields = AllocationListSerializer.Meta.fields + [
            "min_memory_mib", "spread_allowed", "cluster", "partition", "nodes", "labels", "state_changed_at",
            "decided_by", "decision_comment", "flags", "gpus", "bindings", "usage", "updated_at"]
        read_only_fields = fields

    def get_usage(self, allocation) -> dict:
        from ..usage import of_allocation

        return of_allocation(allocation)


class _Visible(serializers.Field):
    """A row by id (number) or name among those the user may see."""

    model, name_field = None, "name"
    default_error_messages = {"unknown": "Unknown, or not visible to you."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, str)) or not str(data) or len(str(data)) > 100:
            self.fail("unknown")
        rows = self.visible(self.context["request"].user)
        key = {"pk": int(data)} if str(data).isdigit() else {self.name_field: data}
        row = rows.filter(**key).first()
        if row is None:
            self.fail("unknown")
        return row

    def visible(self, user):
        return restrict(self.model.objects.all(), user, "view")

    def to_representation(self, value):
        return getattr(value, self.name_field, None)


class ProjectChoice(_Visible):
    model = Project


class ClusterChoice(_Visible):
    model = Cluster


class PartitionChoice(_Visible):
    model = Partition


class NodeChoice(_Visible):
    """A node the user sees, directly or through its GPUs (data developers see GPUs, not nodes)."""

    model = Node

    def visible(self, user):
        return usable_nodes(user)


class RequestSerializer(serializers.Serializer):
    """A request; the seed's body (`user_id`, `server_id`, `purpose`) is accepted too: one GPU on
    that server for `duration_hours` (default 8) in your only project."""

    project = ProjectChoice(required=False)
    gpu_count = serializers.IntegerField(min_value=1, max_value=MAX_GPUS, default=1)
    gpu_model = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    min_memory_mib = serializers.IntegerField(min_value=1, max_value=10_000_000, required=False, allow_null=True)
    spread_allowed = serializers.BooleanField(default=False)
    cluster = ClusterChoice(required=False, allow_null=True)
    partition = PartitionChoice(required=False, allow_null=True)
    nodes = serializers.ListField(child=NodeChoice(), max_length=MAX_NODES, required=False, default=list)
    labels = serializers.ListField(child=serializers.CharField(max_length=100), max_length=MAX_LABELS,
                                   required=False, default=list)
    start = serializers.DateTimeField(required=False, allow_null=True)
    end = serializers.DateTimeField(required=False, allow_null=True)
    duration_hours = serializers.FloatField(min_value=0.01, max_value=24 * 366, required=False, allow_null=True)
    purpose = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    user_id = serializers.CharField(max_length=150, required=False, help_text="seed: the user the GPUs are for")
    server_id = NodeChoice(required=False, help_text="seed: the node (id or name)")

    def validate(self, data):
        user = self.context["request"].user
        if "user_id" in data:
            requester = user_by_id_or_name(data.pop("user_id"))
            if requester is None:
                raise serializers.ValidationError({"user_id": ["Unknown user."]})
            data["requester"] = requester
        server = data.pop("server_id", None)
        if server is not None:
            data["nodes"] = list(data.get("nodes") or []) + [server]
        if data.get("project") is None:
            mine = list(Project.objects.filter(memberships__user=data.get("requester") or user)[:2])
            if len(mine) != 1:
                raise serializers.ValidationError({"project": ["Name the project (you are in "
                                                               f"{'several' if mine else 'no'} projects)."]})
            data["project"] = mine[0]
        if data.get("end") is None and data.get("duration_hours") is None:
            data["duration_hours"] = 8.0
        return data


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ExtendSerializer(serializers.Serializer):
    end = serializers.DateTimeField(required=False)
    hours = serializers.FloatField(min_value=0.01, max_value=24 * 366, required=False)

    def validate(self, data):
        if not data.get("end") and not data.get("hours"):
            raise serializers.ValidationError({"end": ["Give the new end or the hours to add."]})
        return data


class AvailabilitySerializer(serializers.Serializer):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
    model = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

