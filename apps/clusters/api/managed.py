"""Clusters API: configuration of managed clusters.

    GET  /api/v1/clusters/<id>/config/           rendered slurm.conf / gres.conf + diff against the live files
    POST /api/v1/clusters/<id>/config/apply/     202 + job ({"dry_run": true}: 200 with the diff, nothing written)
    GET|POST /api/v1/clusters/<id>/partitions/   partitions (POST adds one to a managed cluster)
    GET|PATCH|DELETE /api/v1/clusters/partitions/<pk>/
    GET|POST /api/v1/clusters/<id>/nodes/        member nodes (POST adds a portal node to a managed cluster)
    GET|DELETE /api/v1/clusters/members/<pk>/    DELETE removes exactly that node from the configuration

Changes reach Slurm only when the configuration is applied. 404 for a cluster the user may not
see, 403 for one they see but may not manage, 400 naming the field for what cannot be rendered.
"""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.jobs.api.responses import accepted
from apps.jobs.api.serializers import JobSerializer

from .. import config_apply, config_jobs, managed, services
from ..models import ClusterNode, Partition
from .serializers import ClusterNodeSerializer, NodeChoice, PartitionSerializer


def _text(max_length: int, **kw):
    # No trimming: a trailing newline is refused by the renderer's checks, never silently dropped.
    return serializers.CharField(max_length=max_length, trim_whitespace=False, **kw)


class PartitionWriteSerializer(serializers.Serializer):
    name = _text(63)
    nodes = serializers.ListField(child=_text(63), max_length=managed.MAX_LIST, required=False,
                                  help_text="Exact Slurm node names of this cluster.")
    is_default = serializers.BooleanField(required=False)
    max_time = _text(32, required=False, help_text="UNLIMITED, minutes, or [days-]hours:minutes:seconds.")
    state = _text(16, required=False, help_text="UP, DOWN, DRAIN or INACTIVE.")
    allow_accounts = serializers.ListField(child=_text(63), max_length=100, required=False)
    allow_qos = serializers.ListField(child=_text(63), max_length=100, required=False)
    options = serializers.DictField(child=_text(200), required=False,
                                    help_text="Other PartitionName keys, e.g. {\"MaxNodes\": \"2\"}.")


class AddNodeSerializer(serializers.Serializer):
    node = NodeChoice(help_text="The portal node (id or name) to add.")
    slurm_name = _text(63, required=False, help_text="Slurm node name (default: the node's name).")
    address = _text(253, required=False, allow_blank=True, default="",
                    help_text="NodeAddr (default: the node's address).")
    partitions = serializers.ListField(child=_text(63), max_length=100, required=False, default=list)
    features = serializers.ListField(child=_text(63), max_length=50, required=False, default=list)
    cpus = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    sockets = serializers.IntegerField(min_value=1, max_value=1024, required=False)
    cores_per_socket = serializers.IntegerField(min_value=1, max_value=4096, required=False)
    threads_per_core = serializers.IntegerField(min_value=1, max_value=16, required=False)
    real_memory_mb = serializers.IntegerField(min_value=0, max_value=2**40, required=False)


class ApplySerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(default=False, help_text="Only answer the diff; write nothing.")


class ClusterScoped(APIView):
    permission_classes = [IsAuthenticated]

    def cluster(self, pk):
        return get_object_or_404(services.visible_clusters(self.request.user), pk=pk)


class ConfigView(ClusterScoped):
    @extend_schema(responses={200: dict})
    def get(self, request, pk):
        """The slurm.conf and gres.conf the portal would write and their unified diff against the
        live files on the controller (`action`: none, reconfigure or restart, with the reasons)."""
        cluster = self.cluster(pk)
        return Response(config_apply.preview(request.user, cluster))


class ConfigApplyView(ClusterScoped):
    @extend_schema(request=ApplySerializer, responses={202: JobSerializer, 200: dict})
    def post(self, request, pk):
        """Apply the rendered configuration (a job: diff, back up, write, reconfigure or restart,
        verify, roll back on failure). `dry_run`: answer the diff only."""
        cluster = self.cluster(pk)
        data = ApplySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["dry_run"]:
            return Response(config_apply.preview(request.user, cluster))
        return accepted(config_jobs.start_apply(request.user, cluster))


class PartitionListView(ClusterScoped):
    @extend_schema(responses={200: PartitionSerializer(many=True)})
    def get(self, request, pk):
        return Response(PartitionSerializer(self.cluster(pk).partitions.all(), many=True).data)

    @extend_schema(request=PartitionWriteSerializer, responses={201: PartitionSerializer})
    def post(self, request, pk):
        """Add a partition to a managed cluster (reaches Slurm on the next apply)."""
        cluster = self.cluster(pk)
        config_apply.check_may_manage(request.user, cluster)
        data = PartitionWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        partition = managed.create_partition(request.user, cluster, **data.validated_data)
        return Response(PartitionSerializer(partition).data, status=201)


class PartitionDetailView(APIView):
    permission_classes = [IsAuthenticated]

    def partition(self, pk):
        visible = services.visible_clusters(self.request.user)
        return get_object_or_404(Partition.objects.select_related("cluster").filter(cluster__in=visible), pk=pk)

    @extend_schema(responses={200: PartitionSerializer})
    def get(self, request, pk):
        return Response(PartitionSerializer(self.partition(pk)).data)

    @extend_schema(request=PartitionWriteSerializer, responses={200: PartitionSerializer})
    def patch(self, request, pk):
        partition = self.partition(pk)
        config_apply.check_may_manage(request.user, partition.cluster)
        data = PartitionWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        partition = managed.update_partition(request.user, partition, **data.validated_data)
        return Response(PartitionSerializer(partition).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        managed.delete_partition(request.user, self.partition(pk))
        return Response(status=204)


class MemberListView(ClusterScoped):
    @extend_schema(responses={200: ClusterNodeSerializer(many=True)})
    def get(self, request, pk):
        members = self.cluster(pk).members.select_related("node")
        return Response(ClusterNodeSerializer(members, many=True).data)

    @extend_schema(request=AddNodeSerializer, responses={201: ClusterNodeSerializer})
    def post(self, request, pk):
        """Add a portal node to a managed cluster (hardware from its facts unless given; GPUs from
        its GPU inventory). Slurm needs a restart for new nodes: the next apply does it."""
        cluster = self.cluster(pk)
        config_apply.check_may_manage(request.user, cluster)
        data = AddNodeSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        member = managed.add_node(request.user, cluster, **data.validated_data)
        return Response(ClusterNodeSerializer(member).data, status=201)


class MemberDetailView(APIView):
    permission_classes = [IsAuthenticated]

    def member(self, pk):
        visible = services.visible_clusters(self.request.user)
        return get_object_or_404(ClusterNode.objects.select_related("cluster", "node").filter(cluster__in=visible),
                                 pk=pk)

    @extend_schema(responses={200: ClusterNodeSerializer})
    def get(self, request, pk):
        return Response(ClusterNodeSerializer(self.member(pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        """Remove exactly this node (its NodeName line and its name in partition lines) on the next
        apply; the machine itself is untouched."""
        managed.remove_node(request.user, self.member(pk))
        return Response(status=204)
