from django.urls import path

from apps.core.api.routers import ApiRouter

from .job_urls import urlpatterns as job_urls
from .managed_urls import urlpatterns as managed_urls
from .operation_urls import urlpatterns as operation_urls
from .views import ClusterViewSet
from .workflows import CleanupView, DeployView, WorkflowViewSet

router = ApiRouter()
router.register("clusters", ClusterViewSet, basename="cluster")
router.register("workflows", WorkflowViewSet, basename="workflow")

workflow_urls = [path("workflows/deploy/", DeployView.as_view(), name="workflow-deploy"),
                 path("workflows/cleanup/", CleanupView.as_view(), name="workflow-cleanup")]
urlpatterns = [*job_urls, *operation_urls, *managed_urls, *workflow_urls, *router.urls]
