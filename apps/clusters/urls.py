from django.urls import path

from . import views
from .config_urls import urlpatterns as config_urls
from .job_page_urls import urlpatterns as job_urls
from .ops_urls import urlpatterns as ops_urls

app_name = "clusters"
urlpatterns = [
    path("", views.ClusterListView.as_view(), name="list"),
    path("external/", views.ExternalClustersView.as_view(), name="external"),
    path("<int:pk>/", views.ClusterDetailView.as_view(), name="detail"),
    path("<int:pk>/refresh/", views.ClusterRefreshView.as_view(), name="refresh"),
    path("<int:pk>/reservations/", views.ClusterReservationsView.as_view(), name="reservations"),
    path("<int:pk>/delete/", views.ClusterDeleteView.as_view(), name="delete"),
    *ops_urls,
    *job_urls,
    *config_urls,
]
