from django.urls import path

from apps.core.api.routers import ApiRouter

from .views import ProjectViewSet, UserViewSet, me_view, roles_view

router = ApiRouter()
router.register("users", UserViewSet, basename="user")
router.register("projects", ProjectViewSet, basename="project")
urlpatterns = router.urls + [
    path("roles/", roles_view, name="roles"),
    path("me/", me_view, name="me"),
]
