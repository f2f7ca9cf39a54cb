from django.urls import path

from . import views

app_name = "jobs"
urlpatterns = [
    path("", views.JobListView.as_view(), name="list"),
    path("start/", views.JobStartView.as_view(), name="start"),
    path("<int:pk>/", views.JobDetailView.as_view(), name="detail"),
    path("<int:pk>/log.txt", views.JobLogView.as_view(), name="log"),
    path("<int:pk>/cancel/", views.JobCancelView.as_view(), name="cancel"),
    path("<int:pk>/retry/", views.JobRetryView.as_view(), name="retry"),
]
