from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response

from apps.core.api.lists import Expansion, LeanViewSetMixin, prefetch, select
from apps.core.api.parsers import FormParser, JSONParser, MultiPartParser
from apps.jobs import services as jobs
from apps.jobs.api.responses import accepted
from apps.jobs.api.serializers import JobSerializer
from apps.nodes import importer, services
from apps.nodes.filters import NodeFilter
from apps.nodes.job_kinds import BootParams, CommandParams, PowerParams
from apps.nodes.models import HostKey, Node
from apps.rbac.api.mixins import RestrictedQuerysetMixin

from .serializers import (BmcSerializer, BmcWriteSerializer, HostKeySerializer, NodeEventSerializer, NodeListSerializer,
                          NodeSerializer)


class ImportSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["csv", "json", "yaml"], required=False)
    content = serializers.CharField(required=False, max_length=5_000_000)
    file = serializers.FileField(required=False)


class MayImportNodes(BasePermission):
    """Decided before the body is parsed: no one without a right to add nodes gets a file read."""

    message = "You may not add nodes, so you may not import them."

    def has_permission(self, request, view):
        return importer.may_import(request.user)


def _params(request, **fixed) -> dict:
    """The request body as job parameters (the job kind validates them), plus what the URL fixes."""
    return {**request.data, **fixed}


class NodeViewSet(LeanViewSetMixin, RestrictedQuerysetMixin, viewsets.ModelViewSet):
    """Nodes. Actions start jobs and answer 202 with the job. Lists are lean (apps/core/api/lists.py):
    host keys, the BMC and facts come with the detail or `?expand=`."""

    queryset = Node.objects.all()  # related rows: as the serializer in use declares (eager)
    serializer_class = NodeSerializer
    list_serializer_class = NodeListSerializer
    expandable = {
        "bmc": Expansion(BmcSerializer, (select("bmc__credential"),)),
        "host_keys": Expansion(HostKeySerializer, (prefetch("host_keys"),), many=True),
        "facts": Expansion(serializers.JSONField),
    }
    cursor_ordering = ("name",)
    filterset_class = NodeFilter
    search_fields = ["name", "address", "facts__hostname"]
    ordering_fields = ["name", "state", "last_seen", "created_at"]

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        keys = data.pop("known_host_keys", [])
        serializer.instance = services.create_node(self.request.user, host_keys=keys, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("known_host_keys", None)
        serializer.instance = services.update_node(self.request.user, serializer.instance, **data)

    def perform_destroy(self, instance):
        services.delete_node(self.request.user, instance)

    @extend_schema(request=ImportSerializer, responses={201: NodeSerializer(many=True), 202: JobSerializer})
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[JSONParser, MultiPartParser, FormParser],
            permission_classes=[IsAuthenticated, MayImportNodes], rbac_action="add")
    def import_nodes(self, request):
        """Small files are imported at once (201, the nodes); large ones start a job (202, the job)."""
        data = ImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        content, fmt = importer.read_upload(data.validated_data)
        started = importer.start_import(request.user, content, fmt)
        if started.job is not None:
            return accepted(started.job)
        return Response(NodeSerializer(started.created, many=True, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"], url_path="test-connection", rbac_action="use")
    def test_connection(self, request, pk=None):
        node = self.get_object()
        return accepted(jobs.start_job(request.user, "nodes.test_connection", {"nodes": [node.pk]}, target=node))

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"], rbac_action="use")
    def probe(self, request, pk=None):
        node = self.get_object()
        return accepted(jobs.start_job(request.user, "nodes.probe", {"nodes": [node.pk]}, target=node))

    @extend_schema(request=PowerParams, responses={202: JobSerializer})
    @action(detail=True, methods=["post"], rbac_action="manage")
    def power(self, request, pk=None):
        node = self.get_object()
        return accepted(jobs.start_job(request.user, "nodes.power", _params(request, node=node.pk), target=node))

    @extend_schema(request=BootParams, responses={202: JobSerializer})
    @action(detail=True, methods=["post"], url_path="boot-device", rbac_action="manage")
    def boot_device(self, request, pk=None):
        node = self.get_object()
        return accepted(jobs.start_job(request.user, "nodes.boot_device", _params(request, node=node.pk),
                                        target=node))

    @extend_schema(request=BmcWriteSerializer, responses={200: NodeSerializer})
    @action(detail=True, methods=["put"], rbac_action="manage")
    def bmc(self, request, pk=None):
        node = self.get_object()
        data = BmcWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.set_bmc(request.user, node, **data.validated_data)
        node.refresh_from_db()
        return Response(NodeSerializer(node, context={"request": request}).data)

    @extend_schema(request=None, responses={200: NodeSerializer})
    @action(detail=True, methods=["post"], url_path=r"host-keys/(?P<key_id>\d+)/approve", rbac_action="manage")
    def approve_host_key(self, request, pk=None, key_id=None):
        return self._decide_key(request, key_id, "trusted")

    @extend_schema(request=None, responses={200: NodeSerializer})
    @action(detail=True, methods=["post"], url_path=r"host-keys/(?P<key_id>\d+)/revoke", rbac_action="manage")
    def revoke_host_key(self, request, pk=None, key_id=None):
        return self._decide_key(request, key_id, "revoked")

    def _decide_key(self, request, key_id, state):
        node = self.get_object()
        key = HostKey.objects.filter(node=node, pk=key_id).first()
        if key is None:
            return Response({"detail": "No such host key on this node."}, status=404)
        services.decide_host_key(request.user, key, state)
        fresh = self.get_queryset().get(pk=node.pk)  # the keys as they are now, not as prefetched
        return Response(NodeSerializer(fresh, context={"request": request}).data)

    @extend_schema(responses={200: NodeEventSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        return Response(NodeEventSerializer(self.get_object().events.all()[:200], many=True).data)

    @extend_schema(request=CommandParams, responses={202: JobSerializer})
    @action(detail=False, methods=["post"], url_path="run-command")
    def run_command(self, request):
        return accepted(jobs.start_job(request.user, "nodes.run_command", _params(request)))
