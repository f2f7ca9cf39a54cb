from django.apps import AppConfig


class NodesConfig(AppConfig):
    name = "apps.nodes"
    label = "nodes"
    verbose_name = "Nodes"

    def ready(self):
        from . import import_job  # noqa: F401  (registers the nodes.import job kind)
