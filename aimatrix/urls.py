from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core.api.views import health_view
from apps.core.views import DashboardView, metrics_view
from apps.rbac.forms import LoginForm

api_v1 = [
    path("", include("apps.core.api.urls")),
    path("", include("apps.jobs.api.urls")),
    path("", include("apps.rbac.api.urls")),
    path("", include("apps.keyvault.api.urls")),
    path("", include("apps.nodes.api.urls")),
]

urlpatterns = [
    path("", DashboardView.as_view(), name="dashboard"),
    path("jobs/", include("apps.jobs.urls")),
    path("projects/", include("apps.rbac.urls")),
    path("nodes/", include("apps.nodes.urls")),
    path("keyvault/", include("apps.keyvault.urls")),
    path("audit/", include("apps.core.urls")),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include((api_v1, "api"))),
    path("api/health", health_view, name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("metrics", metrics_view, name="metrics"),
]
