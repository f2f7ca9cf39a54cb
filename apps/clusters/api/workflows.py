"""Workflows API (deploy / cleanup, composite jobs; apps/clusters/workflows.py):

    GET  /api/v1/workflows/           the workflow runs the user may see (jobs of the workflow kinds)
    POST /api/v1/workflows/deploy/    {node, cluster, pxe?, fingerprint?, munge_key?, partitions?}  202 + job
    POST /api/v1/workflows/cleanup/   {node, cluster, reason?, drain_timeout?, force?, power_off?}   202 + job

`node` and `cluster` are names or ids. Follow a run on its job (GET /api/v1/jobs/<id>/, the job
page, or its websocket): each step is streamed as it starts and ends.
"""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from apps.core.api.lists import LeanViewSetMixin
from apps.core.errors import InvalidInput
from apps.jobs.api.responses import accepted
from apps.jobs.api.serializers import JobListSerializer, JobSerializer
from apps.nodes.services import visible_nodes

from .. import scaling, services, workflows


class WorkflowViewSet(LeanViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Runs of the deploy and cleanup workflows the user may see, newest first."""

    serializer_class = JobSerializer
    list_serializer_class = JobListSerializer
    cursor_ordering = ("-id",)
    ordering_fields = ["created_at", "finished_at", "status", "kind"]

    def get_queryset(self):
        return workflows.visible_workflows(self.request.user)


class _Target(serializers.Serializer):
    node = serializers.CharField(max_length=253, help_text="Portal node name or id.")
    cluster = serializers.CharField(max_length=63, help_text="Cluster name or id.")


class DeploySerializer(_Target):
    pxe = serializers.BooleanField(required=False, default=False)
    fingerprint = serializers.CharField(max_length=100, required=False, allow_blank=True, default="",
                                        help_text="The minion key's fingerprint (salt-key -f form), to accept it.")
    munge_key = serializers.CharField(max_length=128, required=False, allow_blank=True, allow_null=True)
    partitions = serializers.ListField(child=serializers.CharField(max_length=63), required=False, max_length=100)
    install_minion = serializers.BooleanField(required=False, default=False,
                                              help_text="No accepted minion yet: install and enroll one over SSH.")
    minion_id = serializers.CharField(max_length=253, required=False, allow_blank=True, default="",
                                      help_text="With install_minion: the minion id (default: the node's name).")
    portal_url = serializers.CharField(max_length=300, required=False, allow_blank=True, default="",
                                       help_text="With install_minion: the portal as the node reaches it "
                                                 "(default: this request's).")


class CleanupSerializer(_Target):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    drain_timeout = serializers.IntegerField(min_value=0, max_value=scaling.DRAIN_WAIT_MAX_S, required=False,
                                             default=scaling.DRAIN_WAIT_DEFAULT_S)
    force = serializers.BooleanField(required=False, default=False)
    power_off = serializers.BooleanField(required=False, default=True)


def lookup(user, data) -> tuple:
    """(cluster, node) by name or id among those the user sees; 400 naming the field otherwise."""
    clusters = services.visible_clusters(user)
    key = data["cluster"]
    cluster = (clusters.filter(pk=int(key)).first() if key.isdigit() else None) or clusters.filter(name=key).first()
    if cluster is None:
        raise InvalidInput({"cluster": ["Unknown cluster."]})
    nodes = visible_nodes(user)
    key = data["node"]
    node = (nodes.filter(pk=int(key)).first() if key.isdigit() else None) or nodes.filter(name=key).first()
    if node is None:
        raise InvalidInput({"node": ["Unknown node."]})
    return cluster, node


class DeployView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=DeploySerializer, responses={202: JobSerializer})
    def post(self, request):
        """Deploy a node into a managed cluster: power on, optional PXE, SSH, enroll, install and scale in,
        health check (a job; steps streamed; resumable)."""
        data = DeploySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        cluster, node = lookup(request.user, v)
        return accepted(workflows.start_deploy(
            request.user, cluster, node, pxe=v["pxe"], fingerprint=v["fingerprint"], munge_key=v.get("munge_key"),
            partitions=v.get("partitions"), install_minion=v["install_minion"], minion_id=v["minion_id"],
            portal_url=v["portal_url"] or request.build_absolute_uri("/")))


class CleanupView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=CleanupSerializer, responses={202: JobSerializer})
    def post(self, request):
        """Clean a node out of its cluster: drain, scale down, power off (a job; steps streamed; resumable)."""
        data = CleanupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        cluster, node = lookup(request.user, v)
        return accepted(workflows.start_cleanup(request.user, cluster, node, reason=v["reason"],
                                                drain_timeout=v["drain_timeout"], force=v["force"],
                                                power_off=v["power_off"]))


