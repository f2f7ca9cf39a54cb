"""GET /api/v1/nodes/<id>/metrics/: the node samples behind the node page's charts. A subclass of
the nodes' viewset, so the node is found, restricted and permission-checked as every node route."""
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from apps.gpus.node_metrics import node_metrics
from apps.nodes.api.views import NodeViewSet

from .serializers import MetricsParams


class NodeMetricsViewSet(NodeViewSet):
    @extend_schema(parameters=[MetricsParams], responses={200: dict}, operation_id="nodes_metrics_retrieve")
    def node_metrics(self, request, pk=None):
        """Average and maximum per `step` seconds (default: about 300 points) in [start, end)
        (default: the last hour) of the node's CPU, load, memory, network and disk samples."""
        node = self.get_object()
        params = MetricsParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(node_metrics(node, *params.window()))
