from django.apps import AppConfig


class ClustersConfig(AppConfig):
    name = "apps.clusters"
    label = "clusters"
    verbose_name = "Slurm clusters"

    def ready(self):
        from . import job_kinds  # noqa: F401  (registers the clusters.* job kinds)
