from django.urls import path
from rest_framework.routers import SimpleRouter

from .agent_views import EnrollView, NodeCredentialViewSet

router = SimpleRouter()
router.register("agent/credentials", NodeCredentialViewSet, basename="agent-credential")

urlpatterns = [
    path("agent/enroll/", EnrollView.as_view(), name="agent-enroll"),
    *router.urls,
]
