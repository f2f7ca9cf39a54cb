from django.apps import AppConfig


class ClustersConfig(AppConfig):
    name = "apps.clusters"
    label = "clusters"
    verbose_name = "Slurm clusters"

    def ready(self):
        from . import job_kinds  # noqa: F401  (registers the clusters.* job kinds)
        from . import accounting_jobs, gpu_drain, node_jobs  # noqa: F401  (node states, health, accounting)
        from . import config_jobs  # noqa: F401  (apply a managed cluster's configuration)
        from . import scaling_jobs  # noqa: F401  (scale nodes in and out through Salt)
        from . import workflows  # deploy and cleanup workflows (job kinds)
        from apps.jobs.signals import job_finished

        job_finished.connect(workflows.resume_lost, dispatch_uid="clusters.workflows.resume_lost")

        gpu_drain.connect()  # drain a node in Slurm when its GPU fails
        from . import pages_registry

        pages_registry.register()  # global search
