from django.urls import path

from . import views

app_name = "rbac"
urlpatterns = [
    path("", views.ProjectListView.as_view(), name="projects"),
    path("<int:pk>/", views.ProjectDetailView.as_view(), name="project"),
]
