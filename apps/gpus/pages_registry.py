"""What the GPUs app adds to the registries of the apps below it (called from GpusConfig.ready()):
the /metrics collector, the dashboard panel and global search."""
from urllib.parse import urlencode

from django.urls import reverse


def register() -> None:
    from apps.core import metrics, search

    from . import dashboard, services
    from .metrics import GpuHealthCollector, render_gpu_gauges
    from .models import Gpu

    metrics.register_collector("gpus", GpuHealthCollector())
    metrics.register_text_source("gpus", render_gpu_gauges)
    dashboard.register_panels()
    search.register(Gpu, label="GPUs", fields=("uuid", "model"), visible=services.visible_gpus,
                    url=lambda gpu: reverse("gpus:detail", args=[gpu.pk]),
                    more=lambda text: f"{reverse('gpus:list')}?{urlencode({'q': text})}")
