"""Routes of the Slurm jobs API (apps/clusters/api/jobs.py)."""
from django.urls import path

from apps.core.api.routers import ApiRouter

from .jobs import ClusterJobsViewSet, IdleGpuJobsView, JobHistoryView, JobTemplateViewSet, SlurmJobViewSet

router = ApiRouter()
router.register("slurm-jobs", SlurmJobViewSet, basename="slurmjob")
router.register("job-templates", JobTemplateViewSet, basename="jobtemplate")

urlpatterns = [
    path("clusters/idle-gpu-jobs/", IdleGpuJobsView.as_view(), name="cluster-idle-gpu-jobs"),
    path("clusters/<int:pk>/jobs/", ClusterJobsViewSet.as_view({"get": "cluster_list", "post": "submit"}),
         name="cluster-jobs"),
    path("clusters/<int:pk>/jobs/history/", JobHistoryView.as_view(), name="cluster-job-history"),
    *router.urls,
]
