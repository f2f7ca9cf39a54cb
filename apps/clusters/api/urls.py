from apps.core.api.routers import ApiRouter

from .operation_urls import urlpatterns as operation_urls
from .views import ClusterViewSet

router = ApiRouter()
router.register("clusters", ClusterViewSet, basename="cluster")

urlpatterns = [*operation_urls, *router.urls]
