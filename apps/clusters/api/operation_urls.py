"""Routes of api/operations.py (node states, health, accounting), included by api/urls.py before
the cluster router (so `clusters/accounts/<pk>/` is never read as a cluster id)."""
from django.urls import path

from . import operations as ops
from . import scaling

urlpatterns = [
    path("clusters/<int:pk>/nodes/manage/", ops.NodeManageView.as_view(), name="cluster-nodes-manage"),
    path("clusters/<int:pk>/nodes/check-salt/", scaling.CheckSaltView.as_view(), name="cluster-nodes-check-salt"),
    path("clusters/<int:pk>/nodes/scale/", scaling.ScaleView.as_view(), name="cluster-nodes-scale"),
    path("clusters/<int:pk>/nodes/scale-down/", scaling.ScaleDownView.as_view(), name="cluster-nodes-scale-down"),
    path("clusters/<int:pk>/health/", ops.HealthView.as_view(), name="cluster-health"),
    path("clusters/<int:pk>/accounts/", ops.AccountListView.as_view(), name="cluster-accounts"),
    path("clusters/<int:pk>/accounts/diff/", ops.AccountDiffView.as_view(), name="cluster-accounts-diff"),
    path("clusters/<int:pk>/accounts/apply/", ops.AccountApplyView.as_view(), name="cluster-accounts-apply"),
    path("clusters/<int:pk>/accounts/check/", ops.AccountCheckView.as_view(), name="cluster-accounts-check"),
    path("clusters/<int:pk>/associations/", ops.AssociationsView.as_view(), name="cluster-associations"),
    path("clusters/<int:pk>/qos/", ops.QosView.as_view(), name="cluster-qos"),
    path("clusters/accounts/<int:pk>/", ops.AccountDetailView.as_view(), name="cluster-account-detail"),
]
