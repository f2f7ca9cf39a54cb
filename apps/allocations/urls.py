from django.urls import path

from . import fleet_views, views

app_name = "allocations"
urlpatterns = [
    path("", views.AllocationListView.as_view(), name="list"),
    path("approvals/", views.ApprovalQueueView.as_view(), name="approvals"),
    path("new/", views.RequestView.as_view(), name="new"),
    path("usage/", fleet_views.UsageView.as_view(), name="usage"),
    path("timeline/", fleet_views.TimelineView.as_view(), name="timeline"),
    path("ssh-keys/", fleet_views.SshKeysView.as_view(), name="ssh_keys"),
    path("<int:pk>/", views.AllocationDetailView.as_view(), name="detail"),
    path("<int:pk>/approve/", views.DecisionView.as_view(verb="approve"), name="approve"),
    path("<int:pk>/reject/", views.DecisionView.as_view(verb="reject"), name="reject"),
    path("<int:pk>/extend/", views.ExtendView.as_view(), name="extend"),
    path("<int:pk>/release/", views.EndView.as_view(verb="release"), name="release"),
    path("<int:pk>/cancel/", views.EndView.as_view(verb="cancel"), name="cancel"),
]
