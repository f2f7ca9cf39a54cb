from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "apps.jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self):
        # The jobs app fills core's registries (core imports no higher app) and registers the
        # system's own job kinds. Other apps register their kinds in their own ready().
        from django.urls import reverse

        from apps.core import metrics, search

        from . import dashboard as job_panels
        from . import job_kinds  # noqa: F401  (registers core.selfcheck and core.pulse)
        from . import services
        from .metrics import JobCollector
        from .models import Job

        job_panels.register_panels()
        metrics.register_collector("jobs", JobCollector())
        search.register(Job, label="Jobs", fields=("kind", "target_repr", "current_step", "error"),
                        visible=services.visible_jobs, url=lambda job: reverse("jobs:detail", args=[job.pk]))
