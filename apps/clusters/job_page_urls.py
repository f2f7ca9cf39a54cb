"""Routes of the Slurm job pages (apps/clusters/job_views.py), inside the `clusters` namespace."""
from django.urls import path

from . import job_views
from .slurm.records import JobAction

urlpatterns = [
    path("jobs/", job_views.SlurmJobListView.as_view(), name="jobs"),
    path("jobs/<int:pk>/", job_views.SlurmJobDetailView.as_view(), name="job-detail"),
    *[path(f"jobs/<int:pk>/{action.value}/", job_views.action_view(action), name=f"job-{action.value}")
      for action in JobAction],
    path("<int:pk>/jobs/", job_views.ClusterJobListView.as_view(), name="cluster-jobs"),
    path("<int:pk>/jobs/submit/", job_views.SubmitJobView.as_view(), name="job-submit"),
    path("job-templates/", job_views.JobTemplateListView.as_view(), name="job-templates"),
    path("job-templates/new/", job_views.JobTemplateFormView.as_view(), name="job-template-add"),
    path("job-templates/<int:pk>/", job_views.JobTemplateFormView.as_view(), name="job-template-edit"),
    path("job-templates/<int:pk>/delete/", job_views.JobTemplateDeleteView.as_view(), name="job-template-delete"),
]
