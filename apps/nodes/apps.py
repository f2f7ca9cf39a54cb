from django.apps import AppConfig


class NodesConfig(AppConfig):
    name = "apps.nodes"
    label = "nodes"
    verbose_name = "Nodes"

    def ready(self):
        # The nodes app fills the registries of the apps below it (job kinds, search, dashboard panels).
        from urllib.parse import urlencode

        from django.urls import reverse

        from apps.core import search

        from . import dashboard as node_panels
        from . import import_job, job_kinds  # noqa: F401  (register the nodes.* job kinds)
        from . import salt_enrollment, salt_install_job, salt_jobs, salt_tasks  # noqa: F401  (salt.* job kinds, the salt-enrollment token purpose)
        from . import services
        from .models import Node

        search.register(Node, label="Nodes", fields=("name", "address"), visible=services.visible_nodes,
                        url=lambda node: reverse("nodes:detail", args=[node.pk]),
                        more=lambda text: f"{reverse('nodes:list')}?{urlencode({'q': text})}")
        node_panels.register_panels()
        from . import event_bridge

        event_bridge.connect()  # power changes become events (apps/events)
