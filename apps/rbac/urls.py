from django.urls import path

from . import views

app_name = "rbac"
urlpatterns = [
    path("", views.ProjectListView.as_view(), name="projects"),
    path("<int:pk>/", views.ProjectDetailView.as_view(), name="project"),
    path("<int:pk>/grants/", views.ProjectGrantAddView.as_view(), name="grant_add"),
    path("<int:pk>/grants/<int:grant_id>/revoke/", views.ProjectGrantRevokeView.as_view(), name="grant_revoke"),
]
