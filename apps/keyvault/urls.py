from django.urls import path

from . import views

app_name = "keyvault"
urlpatterns = [
    path("", views.SecretListView.as_view(), name="list"),
    path("new/", views.SecretFormView.as_view(), name="create"),
    path("<int:pk>/", views.SecretDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.SecretFormView.as_view(), name="edit"),
    path("<int:pk>/delete/", views.SecretDeleteView.as_view(), name="delete"),
    path("<int:pk>/reveal/", views.SecretRevealView.as_view(), name="reveal"),
    path("tokens/", views.TokenListView.as_view(), name="tokens"),
    path("tokens/new/", views.TokenIssueView.as_view(), name="token-issue"),
    path("tokens/<uuid:pk>/revoke/", views.TokenRevokeView.as_view(), name="token-revoke"),
    path("access-log/", views.AccessLogView.as_view(), name="access-log"),
]
