from django.urls import path

from . import edit_views, views

app_name = "nodes"
urlpatterns = [
    path("", views.NodeListView.as_view(), name="list"),
    path("add/", edit_views.NodeFormView.as_view(), name="add"),
    path("import/", views.NodeImportView.as_view(), name="import"),
    path("actions/", views.NodeBulkView.as_view(), name="bulk"),
    path("<int:pk>/", views.NodeDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", edit_views.NodeFormView.as_view(), name="edit"),
    path("<int:pk>/delete/", edit_views.NodeDeleteView.as_view(), name="delete"),
    path("<int:pk>/bmc/", edit_views.NodeBmcView.as_view(), name="bmc"),
    path("<int:pk>/bmc/remove/", edit_views.NodeBmcRemoveView.as_view(), name="bmc-remove"),
    path("<int:pk>/actions/", views.NodeActionView.as_view(), name="action"),
]
