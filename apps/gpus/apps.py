from django.apps import AppConfig


class GpusConfig(AppConfig):
    name = "apps.gpus"
    label = "gpus"
    verbose_name = "GPUs and telemetry"

    def ready(self):
        # Fill the registries of the apps below (job kinds); nodes and core never import gpus.
        from . import job_kinds  # noqa: F401  (registers gpus.collect)
        from . import event_bridge

        event_bridge.connect()  # events: inventory and health events, GPU alert metrics
        from . import agent_auth  # noqa: F401  (registers the key vault purpose node-enrollment)
        from . import pages_registry

        pages_registry.register()  # /metrics collector, dashboard panel, search
