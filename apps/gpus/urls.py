from django.urls import path

from . import views

app_name = "gpus"
urlpatterns = [
    path("", views.GpuListView.as_view(), name="list"),
    path("<int:pk>/", views.GpuDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.GpuEditView.as_view(), name="edit"),
]
