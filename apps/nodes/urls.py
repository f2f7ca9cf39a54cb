from django.urls import path

from . import edit_views, salt_install_views, salt_views, views

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
    path("<int:pk>/salt-enroll/", salt_views.NodeEnrollView.as_view(), name="salt-enroll"),
    path("salt/", salt_views.MinionListView.as_view(), name="salt-minions"),
    path("salt/install/", salt_install_views.BatchInstallView.as_view(), name="salt-install"),
    path("salt/runs/", salt_views.RunListView.as_view(), name="salt-runs"),
    path("salt/<int:pk>/", salt_views.MinionDetailView.as_view(), name="salt-minion"),
    path("salt/<int:pk>/accept/", salt_views.MinionAcceptView.as_view(), name="salt-minion-accept"),
    path("salt/<int:pk>/reject/", salt_views.MinionRejectView.as_view(), name="salt-minion-reject"),
    path("salt/<int:pk>/delete/", salt_views.MinionDeleteView.as_view(), name="salt-minion-delete"),
    path("salt/<int:pk>/run/", salt_views.MinionRunView.as_view(), name="salt-minion-run"),
]
