from rest_framework.routers import DefaultRouter

from .views import AuditEventViewSet

router = DefaultRouter()
router.register("audit", AuditEventViewSet, basename="audit")
urlpatterns = router.urls
