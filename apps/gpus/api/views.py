from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import raw_json
from apps.core.api.lists import LeanViewSetMixin
from apps.core.api.permissions import StrictModelPermissions
from apps.gpus import agent_auth, ingest, series, services
from apps.gpus.filters import GpuFilter
from apps.gpus.models import Gpu
from apps.nodes.models import Node
from apps.nodes.api.views import NodeViewSet
from apps.rbac.api.mixins import RestrictedQuerysetMixin
from apps.rbac.permissions import restrict

from .serializers import GpuListSerializer, GpuSerializer, MetricsParams, TelemetryPush

DIGITS = r"[0-9]{1,19}"


class GpuViewSet(LeanViewSetMixin, RestrictedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                 mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """GPUs. `<id>` is the primary key or the GPU's UUID. PUT/PATCH change labels and health
    (maintenance with a reason, or back to ok); inventory fields come from telemetry only."""

    queryset = Gpu.objects.all()
    serializer_class = GpuSerializer
    list_serializer_class = GpuListSerializer
    permission_classes = [StrictModelPermissions]
    filterset_class = GpuFilter
    cursor_ordering = ("id",)
    search_fields = ["uuid", "model", "node__name"]
    ordering_fields = ["index", "model", "health", "last_seen", "last_sample_at", "id"]
    lookup_url_kwarg = "pk"
    lookup_value_regex = rf"{DIGITS}|[A-Za-z0-9][A-Za-z0-9_-]{{0,99}}"

    def get_queryset(self):
        # The node joins every row, brief ones included: a GPU's display name is "<node>/gpu<index>".
        return super().get_queryset().select_related("node")

    @property
    def lookup_field(self):
        key = str(getattr(self, "kwargs", {}).get("pk", ""))
        return "pk" if key.isdigit() else "uuid"

    def perform_update(self, serializer):
        serializer.instance = services.update_gpu(self.request.user, serializer.instance,
                                                  **serializer.validated_data)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def status(self, request, pk=None):
        return Response(services.status(self.get_object()))

    @extend_schema(parameters=[MetricsParams], responses={200: dict})
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        """Average and maximum per `step` seconds (default: about 300 points) in [start, end)
        (default: the last hour), read from the raw samples, the 1-minute or 1-hour rollup."""
        gpu = self.get_object()
        params = MetricsParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        start, end, step, layout = params.window()
        return raw_json.response(series.metrics(gpu, start, end, step, layout, database_json=True))

    @extend_schema(responses={200: dict})
    @action(detail=False, methods=["get"])
    def summary(self, request):
        """Counts by health and model over the GPUs you may see."""
        return Response(services.summary(request.user))


def credential_node(request) -> Node | None:
    """The node an authentication class vouched for: `request.auth` is the node, or holds it as
    `.node` (an agent's node credential). None for user authentication."""
    auth = request.auth
    if isinstance(auth, Node):
        return auth
    node = getattr(auth, "node", None)
    return node if isinstance(node, Node) else None


class MayPushTelemetry(BasePermission):
    message = "You may not push telemetry (gpus.push_telemetry)."

    def has_permission(self, request, view):
        if credential_node(request) is not None:
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("gpus.push_telemetry"))


class TelemetryView(APIView):
    """Push one telemetry record (docs/telemetry-record.md). An agent's node comes from its
    credential; a user names the node (`node`: id or name) and needs gpus.push_telemetry and
    `use` on the node. A bad item is refused by index and field (`gpu_samples[3].ts`) and
    nothing of the batch is stored."""

    authentication_classes = agent_auth.TELEMETRY_AUTHENTICATION  # + Bearer <node credential>
    permission_classes = [MayPushTelemetry]

    @extend_schema(request=dict, responses={201: dict})
    def post(self, request):
        data = request.data
        node = credential_node(request)
        source = "agent"
        if node is None:
            routing = TelemetryPush(data={"node": data.get("node")} if data.get("node") is not None else {})
            routing.is_valid(raise_exception=True)
            node = self._named_node(request.user, routing.validated_data.get("node"))
            source = data.get("source") if data.get("source") in ("agent", "agentless") else "agent"
        actor = request.user if request.user and request.user.is_authenticated else None
        result = ingest.ingest(node, data, source=source, actor=actor)
        return Response({"node": node.pk, **result.as_dict()}, status=status.HTTP_201_CREATED)

    @staticmethod
    def _named_node(user, ref) -> Node:
        if not ref:
            raise ValidationError({"node": ["Name the node (id or name) this telemetry is of."]})
        lookup = {"pk": int(ref)} if ref.isascii() and ref.isdigit() and len(ref) <= 18 else {"name": ref}
        node = restrict(Node.objects.all(), user, "use").filter(**lookup).first()
        if node is None:
            raise ValidationError({"node": ["Unknown node, or one you may not use."]})
        return node


class ServerViewSet(NodeViewSet):
    """The seed's /servers/ paths: the nodes API under another name. Only the seed's routes are
    wired (api/urls.py): list, create, power and status; everything else is under /nodes/."""

    @extend_schema(responses={200: dict})
    def server_status(self, request, pk=None):
        """The node's state and power, with the summary of its GPUs' health."""
        from apps.gpus import health

        node = self.get_object()
        bmc = getattr(node, "bmc", None)  # a missing one-to-one raises an AttributeError subclass
        return Response({"id": node.pk, "name": node.name, "state": node.state, "state_reason": node.state_reason,
                         "last_seen": node.last_seen, "power_state": getattr(bmc, "power_state", None) or None,
                         "gpus": health.node_summary(node)})
