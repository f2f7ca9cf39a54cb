from apps.core.api.routers import ApiRouter

from .views import AllocationViewSet

router = ApiRouter()
router.register("allocations", AllocationViewSet, basename="allocation")

urlpatterns = router.urls
