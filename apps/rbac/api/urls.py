from django.urls import path
from rest_framework.routers import DefaultRouter

from .views import ProjectViewSet, UserViewSet, me_view, roles_view

router = DefaultRouter()
router.register("users", UserViewSet, basename="user")
router.register("projects", ProjectViewSet, basename="project")
urlpatterns = router.urls + [
    path("roles/", roles_view, name="roles"),
    path("me/", me_view, name="me"),
]
