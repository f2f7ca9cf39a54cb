from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "apps.events"
    label = "events"
    verbose_name = "Events, alerts and webhooks"

    def ready(self):
        # Hooks on the apps below (jobs); apps above (nodes, gpus) publish into this one.
        from . import audit_hooks  # noqa: F401  (configuration.changed from the audit log)
        from . import job_hooks  # noqa: F401  (job finished events, the job error rate metric)
        from apps.core import metrics

        from .alert_metrics import AlertCollector

        metrics.register_collector("alerts", AlertCollector())  # firing alerts by severity on /metrics
