from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core.api.views import health_view
from apps.core.preference_views import TableColumnsView
from apps.core.search_views import SearchView
from apps.rbac.admin_shortcut import view_on_site
from apps.core.views import DashboardView, metrics_view
from apps.rbac.forms import LoginForm


class FaviconView(RedirectView):
    """Browsers ask for /favicon.ico whatever the page links: send them to the vendored SVG."""

    http_method_names = ["get", "head"]
    permanent = False  # the static URL may change (hashed names); don't let browsers pin it

    def get_redirect_url(self, *args, **kwargs):
        return static("favicon.svg")


api_v1 = [
    path("", include("apps.core.api.urls")),
    path("", include("apps.jobs.api.urls")),
    path("", include("apps.rbac.api.urls")),
    path("", include("apps.keyvault.api.urls")),
    path("", include("apps.nodes.api.urls")),
    path("", include("apps.events.api.urls")),
    path("", include("apps.gpus.api.agent_urls")),
    path("", include("apps.gpus.api.urls")),
    path("", include("apps.gpus.api.node_urls")),
    path("", include("apps.clusters.api.urls")),
    path("", include("apps.allocations.api.urls")),
]

urlpatterns = [
    path("", DashboardView.as_view(), name="dashboard"),
    path("jobs/", include("apps.jobs.urls")),
    path("projects/", include("apps.rbac.urls")),
    path("nodes/", include("apps.nodes.urls")),
    path("gpus/", include("apps.gpus.urls")),
    path("clusters/", include("apps.clusters.urls")),
    path("allocations/", include("apps.allocations.urls")),
    path("", include("apps.events.urls")),  # /alerts/, /events/rules/, /events/deliveries/
    path("keyvault/", include("apps.keyvault.urls")),
    path("audit/", include("apps.core.urls")),
    path("search/", SearchView.as_view(), name="search"),
    path("preferences/columns/", TableColumnsView.as_view(), name="table-columns"),
    # Before the admin's own: its "view on site" redirect goes through the permission layer.
    path("admin/r/<int:content_type_id>/<path:object_id>/", view_on_site, name="admin-view-on-site"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include((api_v1, "api"))),
    path("api/health", health_view, name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("metrics", metrics_view, name="metrics"),
    path("favicon.ico", FaviconView.as_view(), name="favicon"),
    path("agent/", include("apps.gpus.agent_pages")),
]

# 403 and 404 are Django's default handlers (they render 403.html / 404.html in the layout).
handler500 = "aimatrix.error_views.server_error"
