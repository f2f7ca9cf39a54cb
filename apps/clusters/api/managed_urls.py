"""Routes of api/managed.py (configuration of managed clusters), included by api/urls.py before
the cluster router: they also answer GET on `clusters/<id>/partitions/` and `.../nodes/`."""
from django.urls import path

from . import managed as views

urlpatterns = [
    path("clusters/<int:pk>/config/", views.ConfigView.as_view(), name="cluster-config"),
    path("clusters/<int:pk>/config/apply/", views.ConfigApplyView.as_view(), name="cluster-config-apply"),
    path("clusters/<int:pk>/partitions/", views.PartitionListView.as_view(), name="cluster-partitions"),
    path("clusters/partitions/<int:pk>/", views.PartitionDetailView.as_view(), name="cluster-partition-detail"),
    path("clusters/<int:pk>/nodes/", views.MemberListView.as_view(), name="cluster-nodes"),
    path("clusters/members/<int:pk>/", views.MemberDetailView.as_view(), name="cluster-member-detail"),
]
