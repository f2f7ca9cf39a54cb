from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "apps.jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self):
        # Every app declares its job kinds in a `job_kinds` module; load them all once.
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("job_kinds")
