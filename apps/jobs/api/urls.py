from apps.core.api.routers import ApiRouter

from .views import JobViewSet

router = ApiRouter()
router.register("jobs", JobViewSet, basename="job")
urlpatterns = router.urls
