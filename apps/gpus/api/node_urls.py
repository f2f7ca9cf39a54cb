from django.urls import re_path

from .node_metrics import NodeMetricsViewSet

node_metrics = NodeMetricsViewSet.as_view({"get": "node_metrics"}, basename="node", detail=True)

urlpatterns = [
    re_path(r"^nodes/(?P<pk>[0-9]{1,19})/metrics/$", node_metrics, name="node-metrics"),
]
