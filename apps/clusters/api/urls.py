from apps.core.api.routers import ApiRouter

from .job_urls import urlpatterns as job_urls
from .managed_urls import urlpatterns as managed_urls
from .operation_urls import urlpatterns as operation_urls
from .views import ClusterViewSet

router = ApiRouter()
router.register("clusters", ClusterViewSet, basename="cluster")

urlpatterns = [*job_urls, *operation_urls, *managed_urls, *router.urls]
