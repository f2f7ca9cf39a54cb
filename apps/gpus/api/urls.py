from django.urls import path, re_path

from apps.core.api.routers import ApiRouter

from .views import GpuViewSet, ServerViewSet, TelemetryView

router = ApiRouter()
router.register("gpus", GpuViewSet, basename="gpu")

# The seed's server paths, aliases of the nodes API (same views, permissions and services).
servers = ServerViewSet.as_view({"get": "list", "post": "create"}, basename="server")
server_power = ServerViewSet.as_view({"post": "power"}, basename="server", detail=True, rbac_action="manage")
server_status = ServerViewSet.as_view({"get": "server_status"}, basename="server", detail=True)

urlpatterns = [
    path("telemetry/", TelemetryView.as_view(), name="telemetry"),
    path("servers/", servers, name="server-list"),
    re_path(r"^servers/(?P<pk>[0-9]{1,19})/power/$", server_power, name="server-power"),
    re_path(r"^servers/(?P<pk>[0-9]{1,19})/status/$", server_status, name="server-status"),
    *router.urls,
]
