from django.urls import path

from . import views

app_name = "nodes"
urlpatterns = [
    path("", views.NodeListView.as_view(), name="list"),
    path("import/", views.NodeImportView.as_view(), name="import"),
    path("actions/", views.NodeActionView.as_view(), name="bulk"),
    path("<int:pk>/", views.NodeDetailView.as_view(), name="detail"),
    path("<int:pk>/actions/", views.NodeActionView.as_view(), name="action"),
]
