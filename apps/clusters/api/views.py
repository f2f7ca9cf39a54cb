"""Clusters API: the seed's external-cluster flow (test-connection, connect, info, refresh,
delete) plus list/detail/update. Actions that run long answer 202 with the job."""
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from apps.core.api.lists import LeanViewSetMixin
from apps.core.api.permissions import StrictModelPermissions
from apps.gpus.api.serializers import MetricsParams
from apps.jobs.api.responses import accepted
from apps.jobs.api.serializers import JobSerializer
from apps.rbac.api.mixins import RestrictedQuerysetMixin

from .. import history, services
from ..filters import ClusterFilter
from ..models import Cluster
from .serializers import ClusterListSerializer, ClusterSerializer, ConnectSerializer, TestConnectionSerializer


class MayAddClusters(IsAuthenticated):
    message = "You may not connect clusters."

    def has_permission(self, request, view):
        return super().has_permission(request, view) and request.user.has_perm("clusters.add_cluster")


class ClusterViewSet(LeanViewSetMixin, RestrictedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Slurm clusters. DELETE forgets a cluster in the portal and never touches the cluster."""

    queryset = Cluster.objects.all()
    serializer_class = ClusterSerializer
    list_serializer_class = ClusterListSerializer
    permission_classes = [StrictModelPermissions]
    filterset_class = ClusterFilter
    cursor_ordering = ("name",)
    search_fields = ["name", "description", "slurm_cluster_name"]
    ordering_fields = ["name", "kind", "status", "created_at"]

    def perform_update(self, serializer):
        serializer.instance = services.update_cluster(self.request.user, serializer.instance,
                                                      **serializer.validated_data)

    def perform_destroy(self, instance):
        services.forget(self.request.user, instance)

    @extend_schema(request=TestConnectionSerializer, responses={200: dict})
    @action(detail=False, methods=["post"], url_path="test-connection", permission_classes=[MayAddClusters],
            rbac_action="add")
    def test_connection(self, request):
        """SSH to the controller and read version, configuration, nodes and partitions: a preview;
        nothing is saved. `ok: false` with the reason when the cluster cannot be read."""
        data = TestConnectionSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        return Response(services.test_connection(request.user, **data.validated_data))

    @extend_schema(request=ConnectSerializer, responses={202: JobSerializer})
    @action(detail=False, methods=["post"], permission_classes=[MayAddClusters], rbac_action="add")
    def connect(self, request):
        """Save the cluster and start its discovery (202: the job; the cluster's id in `cluster`)."""
        data = ConnectSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        cluster, job = services.connect(request.user, **data.validated_data)
        return accepted(job, cluster=cluster.pk)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def info(self, request, pk=None):
        """Live summary from the controller: node state counts, queue length, partitions."""
        return Response(services.info(request.user, self.get_object()))

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"], rbac_action="change")
    def refresh(self, request, pk=None):
        """Rediscover the cluster (a job)."""
        return accepted(services.refresh(request.user, self.get_object()))

    @extend_schema(parameters=[MetricsParams], responses={200: dict})
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        """The cluster's figures over time (a sample per sync): nodes by state, queue length, GPUs
        allocated; average and maximum per `step` seconds, in the layouts of the GPU metrics."""
        cluster = self.get_object()
        params = MetricsParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(history.metrics(cluster, *params.window()))

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def reservations(self, request, pk=None):
        """Reservations as Slurm shows them now (times in the cluster's local time); `live: false`
        with the reason when the controller cannot be read."""
        return Response(services.reservations(request.user, self.get_object()))

    # GET/POST clusters/<id>/partitions/ and clusters/<id>/nodes/ live in api/managed.py (with the
    # managed-cluster writes); api/urls.py routes them before this viewset.
