from apps.core.api.routers import ApiRouter

from .views import AuditEventViewSet

router = ApiRouter()
router.register("audit", AuditEventViewSet, basename="audit")
urlpatterns = router.urls
