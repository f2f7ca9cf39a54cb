from django.urls import path

from apps.core.api.routers import ApiRouter

from .usage import AllocationUsageView
from .views import AllocationViewSet

router = ApiRouter()
router.register("allocations", AllocationViewSet, basename="allocation")

# Before the router: "usage" is not an allocation id.
urlpatterns = [path("allocations/usage/", AllocationUsageView.as_view(), name="allocation-usage"), *router.urls]
