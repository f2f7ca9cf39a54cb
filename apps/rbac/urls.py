from django.urls import path

from . import views

app_name = "rbac"
urlpatterns = [
    path("", views.ProjectListView.as_view(), name="projects"),
    path("new/", views.ProjectCreateView.as_view(), name="project_add"),
    path("<int:pk>/", views.ProjectDetailView.as_view(), name="project"),
    path("<int:pk>/edit/", views.ProjectEditView.as_view(), name="project_edit"),
    path("<int:pk>/delete/", views.ProjectDeleteView.as_view(), name="project_delete"),
    path("<int:pk>/members/", views.MemberAddView.as_view(), name="member_add"),
    path("<int:pk>/members/<str:username>/", views.MemberRoleView.as_view(), name="member_role"),
    path("<int:pk>/members/<str:username>/remove/", views.MemberRemoveView.as_view(), name="member_remove"),
    path("<int:pk>/grants/", views.GrantAddView.as_view(), name="grant_add"),
    path("<int:pk>/grants/<int:grant_id>/revoke/", views.GrantRevokeView.as_view(), name="grant_revoke"),
]
