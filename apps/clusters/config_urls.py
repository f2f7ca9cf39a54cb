"""Page routes of managed-cluster configuration (apps/clusters/config_views.py), in `clusters`."""
from django.urls import path

from . import config_views as views

urlpatterns = [
    path("<int:pk>/config/", views.ConfigView.as_view(), name="config"),
    path("<int:pk>/config/apply/", views.ApplyConfigView.as_view(), name="config-apply"),
    path("<int:pk>/partitions/add/", views.PartitionCreateView.as_view(), name="partition-add"),
    path("partitions/<int:pk>/edit/", views.PartitionEditView.as_view(), name="partition-edit"),
    path("partitions/<int:pk>/delete/", views.PartitionDeleteView.as_view(), name="partition-delete"),
    path("<int:pk>/nodes/add/", views.AddNodeView.as_view(), name="member-add"),
    path("members/<int:pk>/remove/", views.RemoveNodeView.as_view(), name="member-remove"),
]
