from apps.core.api.routers import ApiRouter

from .views import ClusterViewSet

router = ApiRouter()
router.register("clusters", ClusterViewSet, basename="cluster")

urlpatterns = [*router.urls]
