from apps.core.api.routers import ApiRouter

from .salt_urls import urlpatterns as salt_urlpatterns
from .views import NodeViewSet

router = ApiRouter()
router.register("nodes", NodeViewSet, basename="node")
urlpatterns = salt_urlpatterns + router.urls
