"""Page routes of node states, node repair and accounting (included by apps/clusters/urls.py)."""
from django.urls import path

from . import accounting_views as acct
from . import ops_views, scaling_views, workflow_views

urlpatterns = [
    path("<int:pk>/nodes/states/", ops_views.NodeStatesView.as_view(), name="node-states"),
    path("<int:pk>/nodes/repair/", ops_views.NodeRepairView.as_view(), name="repair"),
    path("<int:pk>/scaling/", scaling_views.ScalingView.as_view(), name="scaling"),
    path("<int:pk>/scaling/down/", scaling_views.ScaleDownView.as_view(), name="scale-down"),
    path("workflows/", workflow_views.WorkflowsView.as_view(), name="workflows"),
    path("workflows/deploy/", workflow_views.DeployStartView.as_view(), name="workflow-deploy"),
    path("workflows/cleanup/", workflow_views.CleanupStartView.as_view(), name="workflow-cleanup"),
    path("<int:pk>/accounting/", acct.AccountingView.as_view(), name="accounting"),
    path("<int:pk>/accounting/apply/", acct.AccountingApplyView.as_view(), name="accounting-apply"),
    path("<int:pk>/accounting/check/", acct.AccountingCheckView.as_view(), name="accounting-check"),
    path("<int:pk>/accounting/accounts/add/", acct.AccountCreateView.as_view(), name="account-add"),
    path("accounts/<int:pk>/edit/", acct.AccountEditView.as_view(), name="account-edit"),
    path("accounts/<int:pk>/delete/", acct.AccountDeleteView.as_view(), name="account-delete"),
]
