from django.urls import path

from apps.core.api.routers import ApiRouter

from .search import search_view
from .views import AuditEventViewSet

router = ApiRouter()
router.register("audit", AuditEventViewSet, basename="audit")
urlpatterns = router.urls + [path("search/", search_view, name="search")]
