from django.urls import path

from apps.core.api.routers import ApiRouter

from .ssh_keys import SshKeysView
from .usage import AllocationUsageView
from .views import AllocationViewSet

router = ApiRouter()
router.register("allocations", AllocationViewSet, basename="allocation")

# Before the router: "usage" is not an allocation id.
urlpatterns = [path("allocations/usage/", AllocationUsageView.as_view(), name="allocation-usage"),
               path("allocations/ssh-keys/", SshKeysView.as_view(), name="allocation-ssh-keys"), *router.urls]
