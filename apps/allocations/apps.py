from django.apps import AppConfig


class AllocationsConfig(AppConfig):
    name = "apps.allocations"
    label = "allocations"
    verbose_name = "GPU allocations"

    def ready(self):
        from . import registry

        registry.register()  # GPU holders, GPU health hook
