from apps.core.api.routers import ApiRouter

from .views import NodeViewSet

router = ApiRouter()
router.register("nodes", NodeViewSet, basename="node")
urlpatterns = router.urls
